#!/usr/bin/env node
// Entry of `npx telemetry-collector`: runs the TypeScript sources through tsx.
import { register } from 'tsx/esm/api'

register()
const { main } = await import('@model-mesh/telemetry-collector/cli')
await main(process.argv.slice(2))
