import type { ComponentChildren } from 'preact'

/** A coloured badge that also says its state in words: colour is never the only signal. */
export function Badge({ kind, children }: { kind: string; children: ComponentChildren }) {
  return <span class={`badge ${kind}`}>{children}</span>
}

/** A table that may be wider than a narrow screen: it scrolls in its own box, not the page, and takes focus so the keyboard can scroll it. */
export function ScrollBox({ label, children }: { label: string; children: ComponentChildren }) {
  return (
    <section class="table-scroll" aria-label={label} tabIndex={0}>
      {children}
    </section>
  )
}

export function Card({ title, children, id }: { title: string; children: ComponentChildren; id?: string }) {
  const headingId = `${id ?? title.replace(/\W+/g, '-').toLowerCase()}-h`
  return (
    <section class="card" aria-labelledby={headingId}>
      <h2 id={headingId}>{title}</h2>
      {children}
    </section>
  )
}
