#!/usr/bin/env node
// The operators' CLI (mesh-config/src/cli.ts), run from TypeScript sources through tsx.
import { register } from 'tsx/esm/api'

register()
const { run } = await import('@model-mesh/mesh-config/cli')
process.exitCode = await run(process.argv.slice(2))
