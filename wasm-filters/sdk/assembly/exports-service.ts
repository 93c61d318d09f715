// @module
// Optional plugin-level callbacks (timers, queues, HTTP calls), for services.
import { roots } from "./context"

export function proxy_on_tick(id: u32): void {
  if (roots.has(id)) roots.get(id).onTick()
}

export function proxy_on_queue_ready(id: u32, queue: u32): void {
  if (roots.has(id)) roots.get(id).onQueueReady(queue)
}

export function proxy_on_http_call_response(id: u32, token: u32, headers: u32, bodySize: usize, trailers: u32): void {
  if (roots.has(id)) roots.get(id).onHttpCallResponse(token, headers, bodySize, trailers)
}
