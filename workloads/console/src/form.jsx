// The job form, built from the API's own OpenAPI document (components.schemas.OptimizeRequest):
// every field, its type, bounds, choices, default and description come from there, so the
// form never drifts from what POST /optimize accepts. Bounds are checked before sending
// (with the schema's numbers); everything else, and the cross-field rules, come back from
// the API as `fields: [{field, message}]` and are shown next to the field they name.
import { useMemo, useState } from 'preact/hooks'
import { ApiError } from './api.js'
import { label } from './format.js'

export const SECTIONS = [
  ['Universe', ['assets', 'dataset', 'start', 'end']],
  ['Objective', ['objective', 'risk_model', 'risk_aversion', 'cvar_alpha', 'horizon_days', 'scenarios']],
  ['Constraints', ['constraints']],
  ['Backtest window', ['backtest']],
  ['Search budget', ['search']],
]

function resolve(doc, node) {
  if (!node) return {}
  if (node.$ref) return resolve(doc, doc.components.schemas[node.$ref.split('/').pop()])
  if (node.allOf && node.allOf.length === 1) return { ...resolve(doc, node.allOf[0]), ...node, allOf: undefined }
  return node
}

export function requestSchema(doc) {
  return resolve(doc, doc.components.schemas.OptimizeRequest)
}

function defaults(doc, schema) {
  const out = {}
  for (const [name, raw] of Object.entries(schema.properties || {})) {
    const s = resolve(doc, raw)
    if (s.type === 'object' && s.properties) out[name] = defaults(doc, s)
    else if (s.default !== undefined) out[name] = s.default
    else if (s.enum && (schema.required || []).includes(name)) out[name] = s.enum[0]
  }
  return out
}

function get(obj, path) { return path.reduce((o, k) => (o == null ? undefined : o[k]), obj) }
function set(obj, path, value) {
  const [head, ...rest] = path
  return { ...obj, [head]: rest.length ? set(obj?.[head] || {}, rest, value) : value }
}

// What the schema says about a value, in the API's words where it has them.
export function check(schema, value) {
  if (value === undefined || value === null || value === '') return schema.required ? 'required' : null
  if (schema.type === 'number' || schema.type === 'integer') {
    if (typeof value !== 'number' || Number.isNaN(value)) return 'must be a number'
    if (schema.type === 'integer' && !Number.isInteger(value)) return 'must be a whole number'
    if (schema.minimum !== undefined && value < schema.minimum) return `must be at least ${schema.minimum}`
    if (schema.maximum !== undefined && value > schema.maximum) return `must be at most ${schema.maximum}`
  }
  if (schema.type === 'array') {
    if (schema.minItems !== undefined && value.length < schema.minItems) return `needs at least ${schema.minItems}`
    if (schema.maxItems !== undefined && value.length > schema.maxItems) return `at most ${schema.maxItems}`
    const item = schema.items || {}
    if (item.pattern) {
      const bad = value.filter((v) => !new RegExp(item.pattern).test(v))
      if (bad.length) return `not valid: ${bad.slice(0, 5).join(', ')} (${item.description || item.pattern})`
    }
  }
  if (schema.type === 'string' && schema.pattern && !new RegExp(schema.pattern).test(value)) return `does not match ${schema.pattern}`
  return null
}

function Field({ doc, name, path, schema, value, onChange, errors, required }) {
  const s = resolve(doc, schema)
  const id = `f-${path.join('-')}`
  const key = path.join('.')
  const error = errors[key]
  const hint = s.description
  const describedBy = [hint && `${id}-hint`, error && `${id}-err`].filter(Boolean).join(' ') || undefined
  const common = { id, name: key, 'aria-describedby': describedBy, 'aria-invalid': error ? 'true' : undefined }
  let input
  if (s.type === 'object' && s.properties) {
    return (
      <fieldset class="nested" data-field={key}>
        <legend>{label(name)}</legend>
        {hint && <p class="hint">{hint}</p>}
        <Fields doc={doc} schema={s} path={path} value={value || {}} onChange={onChange} errors={errors} />
      </fieldset>
    )
  }
  if (s.type === 'boolean') {
    return (
      <div class={`field check ${error ? 'has-error' : ''}`}>
        <input type="checkbox" {...common} checked={!!value} onChange={(e) => onChange(path, e.currentTarget.checked)} />
        <label for={id}>{label(name)}</label>
        {hint && <span class="hint" id={`${id}-hint`}>{hint}</span>}
        {error && <span class="error" id={`${id}-err`} role="alert">{error}</span>}
      </div>
    )
  }
  if (s.enum) {
    input = (
      <select {...common} value={value ?? ''} onChange={(e) => onChange(path, e.currentTarget.value || null)}>
        {!required && <option value="">(default)</option>}
        {s.enum.map((v) => <option key={v} value={v}>{label(String(v))}</option>)}
      </select>
    )
  } else if (s.type === 'array' && resolve(doc, s.items).enum) {
    const choices = resolve(doc, s.items).enum
    const chosen = value || []
    return (
      <fieldset class={`field choices ${error ? 'has-error' : ''}`} data-field={key} aria-describedby={describedBy}>
        <legend>{label(name)}</legend>
        {choices.map((v) => (
          <label key={v} class="choice">
            <input type="checkbox" checked={chosen.includes(v)} name={key}
              onChange={(e) => onChange(path, e.currentTarget.checked ? [...chosen, v] : chosen.filter((c) => c !== v))} />
            {label(v)}
          </label>
        ))}
        {error && <span class="error" id={`${id}-err`} role="alert">{error}</span>}
      </fieldset>
    )
  } else if (s.type === 'array') {
    input = (
      <textarea {...common} rows={2} value={(value || []).join(', ')} placeholder="e.g. A000, A001, A002"
        onInput={(e) => onChange(path, e.currentTarget.value.split(/[\s,;]+/).map((t) => t.trim().toUpperCase()).filter(Boolean))} />
    )
  } else if (s.type === 'number' || s.type === 'integer') {
    input = (
      <input type="number" {...common} value={value ?? ''} min={s.minimum} max={s.maximum}
        step={s.type === 'integer' ? 1 : 'any'} placeholder={s.nullable ? '(none)' : undefined}
        onInput={(e) => { const t = e.currentTarget.value; onChange(path, t === '' ? null : Number(t)) }} />
    )
  } else {
    input = (
      <input type={s.format === 'date' ? 'date' : 'text'} {...common} value={value ?? ''}
        onInput={(e) => onChange(path, e.currentTarget.value || null)} />
    )
  }
  return (
    <div class={`field ${error ? 'has-error' : ''}`}>
      <label for={id}>{label(name)}{required && <span aria-hidden="true"> *</span>}</label>
      {input}
      {hint && <span class="hint" id={`${id}-hint`}>{hint}</span>}
      {error && <span class="error" id={`${id}-err`} role="alert">{error}</span>}
    </div>
  )
}

function Fields({ doc, schema, path, value, onChange, errors, only }) {
  const names = only || Object.keys(schema.properties || {})
  return names.filter((n) => schema.properties[n]).map((n) => (
    <Field key={n} doc={doc} name={n} path={[...path, n]} schema={schema.properties[n]} value={value[n]}
      onChange={onChange} errors={errors} required={(schema.required || []).includes(n)} />
  ))
}

function clientErrors(doc, schema, value, path = [], out = {}) {
  for (const [name, raw] of Object.entries(schema.properties || {})) {
    const s = resolve(doc, raw)
    const p = [...path, name]
    if (s.type === 'object' && s.properties) { clientErrors(doc, s, value?.[name] || {}, p, out); continue }
    const problem = check({ ...s, required: (schema.required || []).includes(name) }, value?.[name])
    if (problem) out[p.join('.')] = problem
  }
  return out
}

function prune(value) {
  // null means "not given": the API then applies its default
  if (Array.isArray(value)) return value
  if (value && typeof value === 'object') {
    const out = {}
    for (const [k, v] of Object.entries(value)) if (v !== null && v !== undefined && v !== '') out[k] = prune(v)
    return out
  }
  return value
}

export function JobForm({ doc, api, initial, onSubmitted }) {
  const schema = useMemo(() => requestSchema(doc), [doc])
  const [value, setValue] = useState(() => ({ ...defaults(doc, schema), ...(initial || {}) }))
  const [errors, setErrors] = useState({})
  const [message, setMessage] = useState(null)
  const [busy, setBusy] = useState(false)
  const onChange = (path, v) => setValue((old) => set(old, path, v))
  const listed = new Set(SECTIONS.flatMap(([, names]) => names))
  const rest = Object.keys(schema.properties).filter((n) => !listed.has(n))

  async function submit(e) {
    e.preventDefault()
    const local = clientErrors(doc, schema, value)
    setErrors(local)
    if (Object.keys(local).length) {
      setMessage(`Check ${Object.keys(local).length} field(s): ${Object.keys(local).join(', ')}`)
      return
    }
    setBusy(true)
    setMessage(null)
    try {
      const job = await api.submit(prune(value))
      onSubmitted(job)
    } catch (err) {
      if (err instanceof ApiError && err.fields.length) {
        const byField = {}
        for (const f of err.fields) byField[f.field] = f.message
        setErrors(byField)
        setMessage(`The API refused the job: ${err.fields.map((f) => `${f.field}: ${f.message}`).join('; ')}`)
      } else {
        setMessage(err.message)
      }
    } finally {
      setBusy(false)
    }
  }

  return (
    <form class="job-form" onSubmit={submit} noValidate aria-describedby="form-status">
      {SECTIONS.map(([title, names]) => (
        <fieldset key={title} class="section">
          <legend>{title}</legend>
          <Fields doc={doc} schema={schema} path={[]} value={value} onChange={onChange} errors={errors} only={names} />
        </fieldset>
      ))}
      <details class="section">
        <summary>Advanced</summary>
        <Fields doc={doc} schema={schema} path={[]} value={value} onChange={onChange} errors={errors} only={rest} />
      </details>
      <div id="form-status" class={message ? 'form-error' : ''} role="status" aria-live="polite">{message}</div>
      <button type="submit" class="primary" disabled={busy}>{busy ? 'Submitting…' : 'Run optimization'}</button>
    </form>
  )
}
