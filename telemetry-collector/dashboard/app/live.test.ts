/**
 * The page reads its live feed with fetch() (EventSource cannot send the
 * operator token), so it parses the server-sent events itself.
 */
import { describe, expect, it } from 'vitest'
import { parseEvents } from './live.ts'

describe('parseEvents', () => {
  it('gives the complete events, keeps the incomplete rest for the next chunk, and reads the format as EventSource does', () => {
    expect(parseEvents('event: overview\ndata: {"a":1}\nid: 1\n\nevent: route\ndata: {"b"')).toEqual({
      events: [{ event: 'overview', data: '{"a":1}' }],
      rest: 'event: route\ndata: {"b"',
    })
    // Chunks end anywhere: the rest and the next chunk make the event.
    const first = parseEvents('event: failure\r\ndata: {"error":')
    expect(first.events).toEqual([])
    expect(parseEvents(`${first.rest}"x"}\r\n\r\n`)).toEqual({
      events: [{ event: 'failure', data: '{"error":"x"}' }],
      rest: '',
    })
    // Several data lines join with a line end; comments and events without data are skipped; no name is "message".
    expect(parseEvents(': keep-alive\n\nevent: overview\n\ndata:one\ndata: two\n\n').events).toEqual([
      { event: 'message', data: 'one\ntwo' },
    ])
  })
})
