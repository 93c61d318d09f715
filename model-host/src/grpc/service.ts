/**
 * @module
 * The Open Inference Protocol over gRPC (`inference.GRPCInferenceService`,
 * inference.proto) on @grpc/grpc-js, beside the HTTP server: the same model
 * manager answers, so batching, fallback, deadlines and determinism are the
 * REST side's. An inference's request is turned into the REST request's
 * parts and decoded by the same decoder (an INVALID_ARGUMENT names the field
 * a 400 would); who answered goes in the response's parameters and, as REST
 * has it in headers, in the trailers. `grpc-timeout` is the deadline.
 */
import { randomUUID } from 'node:crypto'
import { fileURLToPath } from 'node:url'
import {
  type GrpcObject,
  loadPackageDefinition,
  Metadata,
  type sendUnaryData,
  Server,
  ServerCredentials,
  type ServerUnaryCall,
  type ServiceClientConstructor,
  status,
  type UntypedServiceImplementation,
} from '@grpc/grpc-js'
import { loadSync } from '@grpc/proto-loader'
import { bearerMatches, headers as H, type Logger } from '@model-mesh/contracts'
import { InferenceError } from '../errors.ts'
import type { ModelManager } from '../model-manager.ts'
import { decodeInferRequest, echoedRequestId } from '../oip/request.ts'
import { repositoryIndex } from '../repository/index-rows.ts'
import { modelMetadata, tritonModelConfig } from '../oip/model-info.ts'
import { whoAnswered } from '../oip/response.ts'
import {
  grpcStatusOf,
  inferParameters,
  type ModelInferRequest,
  outputsOf,
  requestBytes,
  restFormOf,
  timeBudgetMs,
} from './codec.ts'
import { SERVER_EXTENSIONS } from '../routes/health.ts'

export const INFERENCE_PROTO = fileURLToPath(new URL('./inference.proto', import.meta.url))

/**
 * The service's client constructor, from the .proto as this host reads it:
 * fields by their .proto names, 64-bit integers as numbers, oneofs named.
 * Its `service` is what the server adds; tests make clients with it.
 */
export function inferenceService(): ServiceClientConstructor {
  const definition = loadSync(INFERENCE_PROTO, {
    keepCase: true,
    longs: Number,
    enums: String,
    defaults: true,
    oneofs: true,
  })
  const inference = (loadPackageDefinition(definition) as GrpcObject).inference as GrpcObject
  return inference.GRPCInferenceService as ServiceClientConstructor
}

export interface GrpcServiceOptions {
  manager: ModelManager
  version: string
  /** See HostOptions.operatorToken: RepositoryModelLoad and RepositoryModelUnload need it in `authorization` metadata. */
  operatorToken?: string
  /** Whether the host's HTTP path was warmed up (ServerReady says the same as /v2/health/ready). */
  warmedUp?: () => boolean
  /** Where errors no refusal explains are logged (as the REST side logs them). */
  logger?: Logger
}

/** The largest message the service takes: each model's max_request_bytes is checked on top, request by request. */
export const MAX_GRPC_MESSAGE_BYTES = 64 * 1024 * 1024

type Unary = (call: ServerUnaryCall<unknown, unknown>, callback: sendUnaryData<unknown>) => void

/** A handler whose thrown errors become their gRPC status, with the message the REST side would give. */
const unaryWith =
  (logger: Logger | undefined) =>
  (
    handle: (
      call: ServerUnaryCall<unknown, unknown>,
    ) => Promise<{ response: unknown; trailer?: Metadata }> | { response: unknown; trailer?: Metadata },
  ): Unary =>
  (call, callback) => {
    Promise.resolve()
      .then(() => handle(call))
      .then(
        ({ response, trailer }) => callback(null, response, trailer),
        (e: unknown) => {
          const code = e instanceof GrpcError ? e.code : grpcStatusOf(e)
          if (code === status.INTERNAL)
            logger?.error(
              { err: (e as Error).message, stack: (e as Error).stack, path: call.getPath() },
              'unhandled error',
            )
          callback({ code, details: (e as Error).message })
        },
      )
  }

export function grpcHandlers({
  manager,
  version,
  operatorToken,
  warmedUp = () => true,
  logger,
}: GrpcServiceOptions): UntypedServiceImplementation {
  const unary = unaryWith(logger)
  // The REST side's operator check, with gRPC's statuses: load and unload change what the host serves.
  const operator = (call: ServerUnaryCall<unknown, unknown>) => {
    if (!operatorToken)
      throw new GrpcError(
        status.PERMISSION_DENIED,
        'authorization: this host has no operator token (--operator-token-file), so its repository cannot be changed',
      )
    if (!bearerMatches(first(call.metadata, 'authorization'), operatorToken))
      throw new GrpcError(
        status.UNAUTHENTICATED,
        'authorization: operator token required (authorization: Bearer <token>)',
      )
  }
  return {
    ServerLive: unary(() => ({ response: { live: true } })),
    ServerReady: unary(() => ({ response: { ready: manager.ready() && warmedUp() } })),
    ServerMetadata: unary(() => ({ response: { name: 'model-host', version, extensions: SERVER_EXTENSIONS } })),
    ModelReady: unary((call) => {
      const { name, version: v } = call.request as { name: string; version: string }
      const m = manager.get(name)
      if (!m) throw new InferenceError(`unknown model "${name}"`, 404)
      return { response: { ready: m.state === 'READY' && m.versions.has(v || m.live!) } }
    }),
    ModelMetadata: unary((call) => {
      const { name, version: v } = call.request as { name: string; version: string }
      return { response: modelMetadata(manager, manager.resolve(name, v || undefined)) }
    }),
    ModelConfig: unary((call) => {
      const { name, version: v } = call.request as { name: string; version: string }
      return { response: { config: tritonModelConfig(manager, manager.resolve(name, v || undefined)) } }
    }),
    ModelStatistics: unary((call) => {
      const { name, version: v } = call.request as { name: string; version: string }
      // An unknown model or version is NOT_FOUND, as REST's 404.
      if (name) manager.resolve(name, v || undefined)
      const models = name ? [manager.get(name)!] : manager.models()
      const ms = (x: number) => Math.round(x * 1e6)
      return {
        response: {
          model_stats: models.flatMap((m) =>
            [...m.versions.values()]
              .filter((lv) => !v || lv.version === v)
              .map((lv) => ({
                name: m.name,
                version: lv.version,
                inference_count: lv.stats.inference_count,
                execution_count: lv.stats.execution_count,
                // Per batch, as the host keeps them (Triton's count requests: the durations are the batches' sums).
                inference_stats: {
                  queue: { count: lv.stats.execution_count, ns: ms(lv.stats.queue_ms_total) },
                  compute_infer: { count: lv.stats.execution_count, ns: ms(lv.stats.compute_ms_total) },
                },
              })),
          ),
        },
      }
    }),
    ModelInfer: unary(async (call) => infer(manager, call as ServerUnaryCall<ModelInferRequest, unknown>)),
    RepositoryIndex: unary(async (call) => {
      const { ready } = call.request as { ready: boolean }
      const rows = await repositoryIndex(manager)
      return {
        response: {
          models: rows.filter((r) => !ready || r.state === 'READY').map((r) => ({ version: '', reason: '', ...r })),
        },
      }
    }),
    RepositoryModelLoad: unary(async (call) => {
      operator(call)
      await manager.load((call.request as { model_name: string }).model_name)
      return { response: {} }
    }),
    RepositoryModelUnload: unary(async (call) => {
      operator(call)
      await manager.unload((call.request as { model_name: string }).model_name)
      return { response: {} }
    }),
  }
}

async function infer(manager: ModelManager, call: ServerUnaryCall<ModelInferRequest, unknown>) {
  const req = call.request
  if (!req.model_name) throw new InferenceError('model_name: missing', 400)
  const target = manager.resolve(req.model_name, req.model_version || undefined)
  const cfg = target.config
  // Typed contents count too: what a client sends is bounded by the model's limit, as a REST body is.
  const bytes = requestBytes(req)
  if (bytes > cfg.max_request_bytes)
    throw new InferenceError(
      `inputs: ${bytes} bytes of tensor data exceed ${cfg.max_request_bytes} (max_request_bytes of "${req.model_name}")`,
      413,
    )
  const { json, binary } = restFormOf(req)
  const decoded = decodeInferRequest(json, binary, cfg)
  const requestId = echoedRequestId(first(call.metadata, H.REQUEST_ID), decoded.id) ?? randomUUID()
  const budgetMs = timeBudgetMs(call.getDeadline(), decoded.timeoutUs, cfg.dynamic_batching)
  let gone = call.cancelled
  const listeners: (() => void)[] = []
  call.on('cancelled', () => {
    gone = true
    for (const l of listeners) l()
  })
  const outcome = await manager.infer(target, {
    requestId,
    traceparent: first(call.metadata, H.TRACEPARENT) ?? '',
    rows: decoded.rows,
    tensors: decoded.tensors,
    shapeKey: decoded.shapeKey,
    deadline: performance.now() + Math.max(0, budgetMs),
    priority: decoded.priority,
    client: {
      get gone() {
        return gone
      },
      onGone: (l) => listeners.push(l),
    },
  })
  const { served, parameters, headers } = whoAnswered(target, outcome)
  const trailer = new Metadata()
  for (const [name, value] of Object.entries({ ...headers, [H.REQUEST_ID]: requestId })) trailer.set(name, value)
  return {
    response: {
      model_name: served.model,
      model_version: served.version,
      id: decoded.id ?? '',
      parameters: inferParameters(parameters),
      ...outputsOf(decoded.outputs.map((o) => ({ name: o.name, tensor: outcome.outputs[o.name]! }))),
    },
    trailer,
  }
}

/** A refusal with its gRPC status (those the REST side has no HTTP status for). */
class GrpcError extends Error {
  constructor(
    readonly code: status,
    message: string,
  ) {
    super(message)
  }
}

const first = (md: Metadata, key: string) => {
  const v = md.get(key)[0]
  return typeof v === 'string' ? v : undefined
}

/** Serves the gRPC service at `address` (`host:port`, port 0: any free one); resolves with the server and its port. */
export async function startGrpcServer(
  options: GrpcServiceOptions & { address: string },
): Promise<{ server: Server; port: number }> {
  const server = new Server({
    'grpc.max_receive_message_length': MAX_GRPC_MESSAGE_BYTES,
    // Outputs are the model's: never refused after the inference ran.
    'grpc.max_send_message_length': -1,
  })
  server.addService(inferenceService().service, grpcHandlers(options))
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync(options.address, ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))),
  )
  return { server, port }
}

export { status }
