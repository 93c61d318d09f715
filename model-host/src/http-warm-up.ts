/**
 * @module
 * The host's own HTTP path, warmed before it answers ready. warm-up.ts runs
 * each session's batch sizes, but the first request through the server still
 * pays for V8 compiling the adapter, the routes and the JSON codecs: 6 to 10
 * ms here, two to four times a steady request. Requests to itself over
 * loopback, each on a new connection as a new caller's would be, pay it
 * instead (model-host/test/warm-up.test.ts measures the first request after).
 *
 * Their request ids start with a prefix made of a random id per process, and
 * the host's reports leave out what only they did: the collector counts
 * callers' batches, never the host's own warm-up, and no caller can make
 * its own batches vanish from telemetry by naming them so.
 */
import { randomUUID } from 'node:crypto'
import { request } from 'node:http'
import { headers as H } from '@model-mesh/contracts'
import type { ModelConfig } from './config.ts'
import type { HostReporter } from './host-stats.ts'
import { isNumericDatatype } from './oip/datatypes.ts'
import { warmUpRow } from './warm-up.ts'

/** Requests each version gets before the host answers ready. */
export const HTTP_WARM_UP_REQUESTS = 10
/** A warm-up request not answered within this is given up (logged; the host gets ready all the same). */
const WARM_UP_REQUEST_TIMEOUT_MS = 5000

/** The request id prefix of this process's warm-up requests. */
export const newWarmUpPrefix = () => `warm-up-${randomUUID()}-`

/** A reporter that leaves out the batches and fallbacks of warm-up requests alone. */
export function withoutWarmUp(reporter: HostReporter, prefix: string): HostReporter {
  const warmUp = (id: string) => id.startsWith(prefix)
  return {
    batch: (b) => (b.request_ids.length > 0 && b.request_ids.every(warmUp) ? undefined : reporter.batch(b)),
    fallback: (f) => (warmUp(f.request_id) ? undefined : reporter.fallback(f)),
  }
}

/** An inference request of one row of zeros for every input, as JSON; null when an input is not numeric. */
export function warmUpRequestBody(config: ModelConfig): string | null {
  const inputs = []
  for (const input of config.inputs) {
    if (!isNumericDatatype(input.datatype)) return null
    const row = warmUpRow(input)
    // Halves, not zeros, for floats: callers send fractions, and V8 compiles a decoder fed only small integers for them alone.
    const value = input.datatype.startsWith('FP') ? 0.5 : 0
    inputs.push({
      name: input.name,
      datatype: input.datatype,
      shape: [1, ...row.shape],
      data: new Array(row.elements).fill(value),
    })
  }
  return JSON.stringify({ inputs })
}

export interface WarmUpTarget {
  model: string
  version: string
  config: ModelConfig
}

/**
 * Sends each target HTTP_WARM_UP_REQUESTS inferences at `url`, one at a
 * time: the milliseconds it took and what failed (a failure never keeps the
 * host from getting ready; its callers' requests are what matter).
 */
export async function warmUpHttp(
  url: string,
  targets: readonly WarmUpTarget[],
  prefix: string,
): Promise<{ ms: number; failed: { model: string; version: string; error: string }[] }> {
  const started = performance.now()
  const failed: { model: string; version: string; error: string }[] = []
  let n = 0
  for (const t of targets) {
    const body = warmUpRequestBody(t.config)
    if (body === null) continue
    const path = `/v2/models/${encodeURIComponent(t.model)}/versions/${encodeURIComponent(t.version)}/infer`
    for (let i = 0; i < HTTP_WARM_UP_REQUESTS; i++) {
      const error = await post(`${url}${path}`, body, `${prefix}${n++}`)
      if (error) {
        failed.push({ model: t.model, version: t.version, error })
        break
      }
    }
  }
  return { ms: performance.now() - started, failed }
}

/** POSTs `body` on a connection of its own; the error, or undefined when it was answered 200. */
function post(url: string, body: string, requestId: string): Promise<string | undefined> {
  return new Promise((resolve) => {
    let req: ReturnType<typeof request>
    try {
      req = request(
        url,
        {
          method: 'POST',
          agent: false,
          headers: { 'content-type': 'application/json', connection: 'close', [H.REQUEST_ID]: requestId },
          timeout: WARM_UP_REQUEST_TIMEOUT_MS,
        },
        (res) => {
          let text = ''
          res.setEncoding('utf8')
          res.on('data', (d: string) => {
            if (text.length < 500) text += d
          })
          res.on('end', () => resolve(res.statusCode === 200 ? undefined : `${res.statusCode}: ${text.slice(0, 200)}`))
          res.on('error', (e) => resolve(e.message))
        },
      )
    } catch (e) {
      resolve((e as Error).message)
      return
    }
    req.on('timeout', () => req.destroy(new Error(`no answer within ${WARM_UP_REQUEST_TIMEOUT_MS} ms`)))
    req.on('error', (e) => resolve(e.message))
    req.end(body)
  })
}
