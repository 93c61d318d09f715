/**
 * @module
 * The operator's check, one Hono middleware for every component that has
 * operator-only calls (the hosts' repository writes, the collector's writes
 * and sampled payloads): `Authorization: Bearer <operator token>`, checked by
 * Hono's bearer-auth (401 without or with another token, 400 for a malformed
 * header), and 403 on a server started without a token, which then allows
 * none of them.
 */
import type { MiddlewareHandler } from 'hono'
import { bearerAuth } from 'hono/bearer-auth'

/** `withoutToken` says, in the server's words, why nothing is allowed and where the token would be configured. */
export function operatorCheck(token: string | undefined, withoutToken: string): MiddlewareHandler {
  if (!token) return async (c) => c.json({ error: `authorization: ${withoutToken}` }, 403)
  return bearerAuth({
    token,
    noAuthenticationHeader: {
      message: { error: 'authorization: operator token required (Authorization: Bearer <token>)' },
    },
    invalidToken: { message: { error: 'authorization: not the operator token' } },
    invalidAuthenticationHeader: { message: { error: 'authorization: must be "Bearer <token>"' } },
  })
}
