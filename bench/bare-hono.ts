/**
 * @module
 * The HTTP ceiling for bench:host: a bare Hono endpoint, served the same way
 * as the model host (@hono/node-server on loopback), that reads the request
 * body and answers a fixed OIP-shaped response without running a model.
 */
import { createServer } from 'node:http'
import { serve } from '@hono/node-server'
import { Hono } from 'hono'

const response = JSON.stringify({
  model_name: 'credit-risk',
  model_version: '1',
  parameters: { fallback: false, confidence: 0.9 },
  outputs: [{ name: 'probabilities', datatype: 'FP32', shape: [1, 2], data: [0.9, 0.1] }],
})

const app = new Hono().post('/v2/models/:model/infer', async (c) => {
  await c.req.arrayBuffer()
  c.header('content-type', 'application/json')
  return c.body(response)
})

const server = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1', createServer }, (info) => {
  process.stdout.write(`${JSON.stringify({ msg: 'ready', url: `http://127.0.0.1:${info.port}`, port: info.port })}\n`)
})
process.on('SIGTERM', () => server.close(() => process.exit(0)))
