#!/usr/bin/env node
// Entry of `npx telemetry-agent`: runs the TypeScript sources through tsx.
import { register } from 'tsx/esm/api'

register()
const { main } = await import('@model-mesh/telemetry-agent/cli')
await main(process.argv.slice(2))
