#!/usr/bin/env node
// Entry of `npx model-host`: runs the TypeScript sources through tsx.
import { register } from 'tsx/esm/api'

register()
const { main } = await import('@model-mesh/model-host/cli')
await main(process.argv.slice(2))
