/**
 * @module
 * The Wasm modules Envoy loads and where their builds lie: what the rest of
 * the mesh needs of the filters at run time. build.ts compiles them; this
 * file imports nothing of it, so reading a path never loads the compiler's
 * driver.
 */
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

export const FILTERS_DIR = fileURLToPath(new URL('.', import.meta.url))
export const BUILD_DIR = join(FILTERS_DIR, 'build')

/** The modules Envoy loads, each `<name>/assembly/index.ts`, built as `build/<name>.wasm`. */
export const MODULES: readonly string[] = ['mesh-filter', 'telemetry-exporter']

/** The module that runs the plugins. */
export const MESH_FILTER = 'mesh-filter'

/** The built file of a module (or a test fixture, `fixture-<name>`). */
export const wasmPath = (module: string) => join(BUILD_DIR, `${module}.wasm`)
