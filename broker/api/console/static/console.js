// Nimbus web console: a small hash-routed page over the JSON API in api/.
// Every view has a static part (forms keep what the user typed) and data
// parts that the 2-second poll re-renders. All text goes in through
// textContent (h below): message bodies and names are never parsed as HTML.
'use strict';

const POLL_MS = 2000;

// ---- helpers --------------------------------------------------------------

// h builds an element: props sets attributes ("class", "for", ...), event
// handlers ("on" + name) and properties (value, checked); children are
// nodes or strings (strings become text nodes), null is skipped.
function h(tag, props, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(props || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'value' || k === 'checked') el[k] = v;
    else el.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

function fill(el, ...children) {
  el.replaceChildren(...children.flat(Infinity).filter((c) => c !== null && c !== undefined && c !== false));
}

class APIError extends Error {
  constructor(status, body) {
    super((body && body.error) || ('HTTP ' + status));
    this.status = status;
    this.code = body && body.code;
  }
}

async function api(path, body) {
  const opts = { headers: { Accept: 'application/json' } };
  if (body !== undefined) {
    opts.method = 'POST';
    opts.headers['Content-Type'] = 'application/json';
    opts.body = JSON.stringify(body);
  }
  const resp = await fetch('api/' + path, opts);
  let data = null;
  try { data = await resp.json(); } catch (e) { /* not JSON */ }
  if (!resp.ok) throw new APIError(resp.status, data);
  return data;
}

const enc = encodeURIComponent;
const dash = '—';

function num(v) {
  if (v === null || v === undefined) return dash;
  return Number(v).toLocaleString();
}

function rate(v) {
  if (v === null || v === undefined) return dash;
  if (v === 0) return '0';
  return v < 10 ? v.toFixed(2) : v.toFixed(1);
}

function age(seconds) {
  if (seconds === null || seconds === undefined) return dash;
  const s = Math.round(seconds);
  if (s < 60) return s + ' s';
  if (s < 3600) return Math.floor(s / 60) + ' m ' + (s % 60) + ' s';
  if (s < 86400) return Math.floor(s / 3600) + ' h ' + Math.floor((s % 3600) / 60) + ' m';
  return Math.floor(s / 86400) + ' d ' + Math.floor((s % 86400) / 3600) + ' h';
}

function when(iso) {
  if (!iso) return dash;
  const d = new Date(iso);
  return d.toLocaleString();
}

function bytes(v) {
  if (v === null || v === undefined) return dash;
  const units = ['B', 'KiB', 'MiB', 'GiB'];
  let i = 0;
  while (v >= 1024 && i < units.length - 1) { v /= 1024; i++; }
  return (i === 0 ? v.toFixed(0) : v.toFixed(1)) + ' ' + units[i];
}

function badge(text, kind) { return h('span', { class: 'badge ' + (kind || '') }, text); }

function stateBadge(state) {
  const s = (state || '').toLowerCase();
  if (['enabled', 'active', 'running', 'completed', 'success', 'leader'].includes(s)) return badge(state, 'ok');
  if (['disabled', 'cancelled', 'leaving'].includes(s)) return badge(state, 'grey');
  if (['failed', 'failure', 'error'].includes(s)) return badge(state, 'bad');
  if (!s) return badge('unknown', 'grey');
  return badge(state, 'warn');
}

// stats builds a row of stat boxes from [key, label, id] and returns it
// with set(key, text). The boxes are held by reference: a refresh that
// ends after the user left the page writes into nodes no longer shown.
function stats(defs) {
  const values = {};
  const el = h('div', { class: 'stats' }, defs.map(([key, label, id]) => {
    values[key] = h('div', { class: 'value', id: id }, dash);
    return h('div', { class: 'stat' }, h('div', { class: 'label' }, label), values[key]);
  }));
  return { el, set(key, text) { values[key].textContent = text; } };
}

// table renders rows as a table: cols are [header, cell(row), className?].
function table(cols, rows, empty) {
  if (!rows || rows.length === 0) return h('div', { class: 'empty' }, empty || 'None.');
  return h('table', {},
    cols.some((c) => c[0]) ? h('thead', {}, h('tr', {}, cols.map((c) => h('th', { class: c[2] || null }, c[0])))) : null,
    h('tbody', {}, rows.map((r) => {
      const tr = h('tr', { class: r._class || null });
      for (const c of cols) {
        const v = c[1](r);
        tr.append(h('td', { class: c[2] || null }, v));
      }
      return tr;
    })));
}

function kvTable(obj, empty) {
  const keys = Object.keys(obj || {}).sort();
  return table([['Name', (k) => k], ['Value', (k) => obj[k], 'mono']], keys, empty);
}

// parseAttrs reads "key=value" lines into an object.
function parseAttrs(text) {
  const out = {};
  for (const line of text.split('\n')) {
    const t = line.trim();
    if (!t) continue;
    const i = t.indexOf('=');
    if (i <= 0) throw new Error('attribute "' + t + '" is not key=value');
    out[t.slice(0, i).trim()] = t.slice(i + 1).trim();
  }
  return out;
}

function result(el, ok, text) {
  el.className = 'result ' + (ok ? 'ok' : 'bad');
  el.textContent = text;
}

// submitter wraps a form's async submit: the button is disabled meanwhile
// and errors land in the result line.
function submitter(form, out, fn) {
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const btn = form.querySelector('button[type=submit]');
    if (btn) btn.disabled = true;
    try {
      await fn();
      poller.kick();
    } catch (e) {
      result(out, false, e.message);
    } finally {
      if (btn) btn.disabled = false;
    }
  });
}

function link(href, text) { return h('a', { href: href }, text); }
function queueLink(name) { return name ? link('#/queues/' + enc(name), name) : dash; }

function sourceLink(src) {
  const [kind, name] = (src || '').split(/:(.*)/s);
  if (!name) return src || dash;
  const path = { queue: 'queues', topic: 'topics', stream: 'streams' }[kind];
  return path ? h('span', {}, kind + ':', link('#/' + path + '/' + enc(name), name)) : src;
}

function triggerLinks(trs) {
  if (!trs || trs.length === 0) return h('div', { class: 'empty' }, 'No trigger reads from it.');
  return h('div', {}, trs.map((t) => h('div', {}, link('#/triggers/' + enc(t.name), t.name), ' ', stateBadge(t.state))));
}

function groupsTable(groups) {
  return table([
    ['Group', (g) => String(g.group), 'num'],
    ['Partition', (g) => g.shard_id || String(g.partition)],
    ['Leader', (g) => g.leader || badge('no leader', 'bad')],
    ['Replicas', (g) => g.replicas.join(', ')],
  ], groups, 'No raft groups reported.');
}

// ---- views ----------------------------------------------------------------
// A view is { section, mount(main) }; mount builds the page and returns an
// async refresh() that loads and renders the data parts.

const views = [];
function route(re, section, mount) { views.push({ re, section, mount }); }

route(/^\/?$/, 'cluster', (main) => {
  const nodes = h('div');
  const groups = h('div');
  const filter = h('input', { class: 'filter', placeholder: 'filter groups (name, node, kind)…', oninput: () => render() });
  let last = null;
  fill(main,
    h('h1', {}, 'Cluster'),
    h('p', { class: 'sub' }, 'Nodes, the meta group and every partition and shard raft group, with their leaders.'),
    h('div', { class: 'panel' }, h('h2', {}, 'Nodes'), nodes),
    h('div', { class: 'panel' }, h('h2', {}, 'Raft groups'), filter, groups));
  function render() {
    const d = last;
    if (!d) return;
    fill(nodes, table([
      ['Node', (n) => h('span', {}, n.id, n.id === d.node_id ? h('span', { class: 'muted' }, ' (this node)') : null)],
      ['State', (n) => stateBadge(n.state)],
      ['Meta role', (n) => n.meta_role ? stateBadge(n.meta_role) : dash],
      ['Leads', (n) => num(n.leads), 'num'],
      ['Replicas', (n) => num(n.replicas), 'num'],
      ['gRPC', (n) => n.grpc_addr, 'mono'],
      ['HTTP', (n) => n.http_addr, 'mono'],
      ['Peer', (n) => n.peer_addr, 'mono'],
      ['Metrics', (n) => n.metrics_error ? h('span', { title: n.metrics_error }, badge('unreachable', 'bad')) : badge('ok', 'ok')],
    ], d.nodes));
    const q = filter.value.trim().toLowerCase();
    const rows = d.groups.filter((g) => !q || [g.kind, g.resource, g.leader, g.shard_id, ...g.replicas].join(' ').toLowerCase().includes(q));
    const resLink = (g) => {
      const path = { queue: 'queues', topic: 'topics', stream: 'streams' }[g.kind];
      return path ? link('#/' + path + '/' + enc(g.resource), g.resource) : g.resource;
    };
    fill(groups, table([
      ['Group', (g) => String(g.group), 'num'],
      ['Kind', (g) => badge(g.kind, g.kind === 'meta' ? 'warn' : '')],
      ['Resource', resLink],
      ['Partition / shard', (g) => g.kind === 'meta' ? dash : (g.shard_id || String(g.partition))],
      ['Leader', (g) => g.leader || badge('no leader', 'bad')],
      ['Replicas', (g) => g.replicas.join(', ')],
    ], rows, q ? 'No group matches.' : 'No groups.'));
  }
  return async () => { last = await api('cluster'); render(); };
});

route(/^\/queues$/, 'queues', (main) => {
  const body = h('div');
  fill(main,
    h('h1', {}, 'Queues'),
    h('p', { class: 'sub' }, 'Depth is ApproximateNumberOfMessages. Rates are messages per second over the last few seconds, summed over every node.'),
    h('div', { class: 'panel' }, body));
  return async () => {
    const qs = await api('queues');
    fill(body, table([
      ['Queue', (q) => h('span', {}, queueLink(q.name), q.error ? h('span', { class: 'muted', title: q.error }, ' ⚠') : null)],
      ['Type', (q) => q.fifo ? badge('FIFO') : badge('standard', 'grey')],
      ['Visible', (q) => num(q.visible), 'num'],
      ['In flight', (q) => num(q.in_flight), 'num'],
      ['Delayed', (q) => num(q.delayed), 'num'],
      ['Oldest', (q) => age(q.oldest_age_seconds), 'num'],
      ['Sent/s', (q) => rate(q.send_rate), 'num'],
      ['Received/s', (q) => rate(q.receive_rate), 'num'],
      ['Dead-letter queue', (q) => q.dead_letter_queue ? h('span', {}, queueLink(q.dead_letter_queue), h('span', { class: 'muted' }, ' after ' + q.max_receive_count)) : dash],
    ], qs, 'No queues yet. Create one with `nimbus queue create NAME` or any SQS client.'));
  };
});

route(/^\/queues\/(.+)$/, 'queues', (main, name) => {
  const head = h('h1', {}, name);
  const sub = h('p', { class: 'sub' });
  const st = stats([
    ['visible', 'Visible (depth)', 'stat-visible'], ['inflight', 'In flight', 'stat-inflight'], ['delayed', 'Delayed', 'stat-delayed'],
    ['oldest', 'Oldest message', 'stat-oldest'], ['send', 'Sent/s', 'stat-send'], ['receive', 'Received/s', 'stat-receive'],
    ['delete', 'Deleted/s', 'stat-delete'], ['dead', 'Dead-lettered', 'stat-dead']]);
  let fifo = false;

  // Send a test message.
  const sendOut = h('div', { class: 'result', id: 'send-result' });
  const fifoFields = h('div', { class: 'row' },
    h('label', {}, 'Message group id', h('input', { name: 'group', id: 'send-group' })),
    h('label', {}, 'Deduplication id', h('input', { name: 'dedup', id: 'send-dedup', placeholder: 'content-based if enabled' })));
  const sendForm = h('form', { id: 'send-form' },
    h('label', { class: 'wide' }, 'Body', h('textarea', { name: 'body', id: 'send-body', required: true, placeholder: '{"hello": "world"}' })),
    h('div', { class: 'row' },
      h('label', {}, 'Delay seconds', h('input', { name: 'delay', type: 'number', min: 0, max: 900, placeholder: 'queue default', style: 'width:130px' })),
      h('label', { style: 'flex:1' }, 'String attributes (key=value per line)', h('textarea', { name: 'attrs', style: 'min-height:34px' }))),
    fifoFields,
    h('div', { class: 'row', style: 'margin-top:8px' }, h('button', { type: 'submit', id: 'send-submit' }, 'Send message')),
    sendOut);
  submitter(sendForm, sendOut, async () => {
    const f = sendForm.elements;
    const req = { body: f.body.value };
    if (f.delay.value !== '') req.delay_seconds = Number(f.delay.value);
    const attrs = parseAttrs(f.attrs.value);
    if (Object.keys(attrs).length) req.attributes = attrs;
    if (fifo) {
      req.message_group_id = f.group.value;
      if (f.dedup.value) req.message_deduplication_id = f.dedup.value;
    }
    const r = await api('queues/' + enc(name) + '/messages', req);
    result(sendOut, true, 'Sent message ' + r.message_id + (r.sequence_number ? ' (sequence ' + r.sequence_number + ')' : '') + '.');
  });

  // Peek.
  const peekOut = h('div', { class: 'result' });
  const peekList = h('div');
  const peekForm = h('form', { class: 'inline' },
    h('label', {}, 'Messages', h('input', { name: 'max', type: 'number', min: 1, max: 10, value: 10, style: 'width:80px' })),
    h('button', { type: 'submit', class: 'secondary', id: 'peek-submit' }, 'Peek'));
  submitter(peekForm, peekOut, async () => {
    const r = await api('queues/' + enc(name) + '/peek', { max: Number(peekForm.elements.max.value) || 10 });
    result(peekOut, true, r.messages.length ? r.messages.length + ' message(s), left visible.' : 'No visible message.');
    fill(peekList, r.messages.map((m) => h('div', { class: 'msg' },
      h('div', { class: 'mono' }, m.message_id),
      h('div', { class: 'muted' }, 'received ' + (m.attributes.ApproximateReceiveCount || '?') + ' time(s), sent ' +
        (m.attributes.SentTimestamp ? new Date(Number(m.attributes.SentTimestamp)).toLocaleString() : '?') +
        (m.attributes.MessageGroupId ? ', group ' + m.attributes.MessageGroupId : '')),
      Object.keys(m.message_attributes).length ? h('div', { class: 'mono' },
        Object.entries(m.message_attributes).map(([k, v]) => k + '=' + v.value).join('  ')) : null,
      h('pre', {}, m.body))));
  });

  // Redrive (shown when the queue is a dead-letter queue).
  const redrive = h('div', { class: 'panel', style: 'display:none' });
  const redriveInfo = h('div');
  const tasks = h('div');
  const redriveOut = h('div', { class: 'result' });
  const redriveForm = h('form', { class: 'inline' },
    h('label', {}, 'Destination queue', h('input', { name: 'dest', placeholder: 'each message\'s source' })),
    h('label', {}, 'Max messages/s', h('input', { name: 'rate', type: 'number', min: 0, max: 500, placeholder: 'no limit', style: 'width:110px' })),
    h('button', { type: 'submit' }, 'Start redrive'));
  submitter(redriveForm, redriveOut, async () => {
    const f = redriveForm.elements;
    const r = await api('queues/' + enc(name) + '/redrive', { destination: f.dest.value.trim(), max_per_second: Number(f.rate.value) || 0 });
    result(redriveOut, true, 'Redrive started (task ' + r.task_handle + ').');
  });
  fill(redrive, h('h2', {}, 'Dead-letter redrive'), redriveInfo, redriveForm, redriveOut, h('div', { style: 'margin-top:12px' }, tasks));

  const partitions = h('div');
  const attrs = h('div');
  const tags = h('div');
  const triggers = h('div');
  fill(main,
    h('div', { class: 'crumbs' }, link('#/queues', 'Queues'), ' / '), head, sub, st.el,
    h('div', { class: 'grid2' },
      h('div', { class: 'panel' }, h('h2', {}, 'Send a test message'), sendForm),
      h('div', { class: 'panel' }, h('h2', {}, 'Peek'),
        h('p', { class: 'note' }, 'Peek is ReceiveMessage with VisibilityTimeout 0: messages stay visible, but each peek counts as a receive. ' +
          'ApproximateReceiveCount goes up, and with a redrive policy a message peeked maxReceiveCount times moves to the dead-letter queue.'),
        peekForm, peekOut, peekList)),
    h('div', { style: 'height:16px' }),
    redrive,
    h('div', { class: 'grid2' },
      h('div', { class: 'panel' }, h('h2', {}, 'Partitions'), partitions),
      h('div', { class: 'panel' }, h('h2', {}, 'Triggers'), triggers)),
    h('div', { style: 'height:16px' }),
    h('div', { class: 'panel' }, h('details', {}, h('summary', {}, 'Attributes and tags'), attrs, h('h2', { style: 'margin-top:12px' }, 'Tags'), tags)));

  return async () => {
    const q = await api('queues/' + enc(name));
    fifo = q.fifo;
    fifoFields.style.display = fifo ? '' : 'none';
    fill(head, name, q.fifo ? badge('FIFO') : badge('standard', 'grey'));
    fill(sub, q.url, q.dead_letter_queue ? h('span', {}, ' · dead-letters to ', queueLink(q.dead_letter_queue), ' after ' + q.max_receive_count + ' receives') : null);
    st.set('visible', num(q.visible));
    st.set('inflight', num(q.in_flight));
    st.set('delayed', num(q.delayed));
    st.set('oldest', age(q.oldest_age_seconds));
    st.set('send', rate(q.send_rate));
    st.set('receive', rate(q.receive_rate));
    st.set('delete', rate(q.delete_rate));
    st.set('dead', num(q.dead_lettered_total));
    redrive.style.display = q.dead_letter_sources.length ? '' : 'none';
    fill(redriveInfo, h('p', { class: 'note' }, 'Dead-letter queue of ', q.dead_letter_sources.map((s, i) => [i ? ', ' : '', queueLink(s)]),
      '. A redrive moves its messages back to their source queues (or to a destination) at a bounded rate.'));
    fill(tasks, table([
      ['Status', (t) => stateBadge(t.status)],
      ['Progress', (t) => {
        const pct = t.to_move > 0 ? Math.min(100, Math.round(100 * t.moved / t.to_move)) : (t.status === 'COMPLETED' ? 100 : 0);
        return h('span', {}, h('span', { class: 'progress' }, h('span', { style: 'width:' + pct + '%' })), ' ' + num(t.moved) + ' / ' + num(t.to_move));
      }],
      ['Destination', (t) => t.destination ? queueLink(t.destination) : 'sources'],
      ['Rate', (t) => t.max_per_second ? t.max_per_second + '/s' : 'no limit'],
      ['Started', (t) => when(t.started)],
      ['', (t) => t.failure ? h('span', { class: 'muted' }, t.failure) : (t.status === 'RUNNING' && t.task_handle ?
        h('button', { class: 'secondary', onclick: async (ev) => {
          ev.target.disabled = true;
          try { await api('queues/' + enc(name) + '/redrive/cancel', { task_handle: t.task_handle }); } catch (e) { result(redriveOut, false, e.message); }
          poller.kick();
        } }, 'Cancel') : '')],
    ], q.move_tasks, 'No redrive yet.'));
    fill(partitions, groupsTable(q.partitions));
    fill(triggers, triggerLinks(q.triggers));
    fill(attrs, kvTable(q.attributes));
    fill(tags, kvTable(q.tags, 'No tags.'));
  };
});

route(/^\/topics$/, 'topics', (main) => {
  const body = h('div');
  const deliveries = h('div');
  fill(main,
    h('h1', {}, 'Topics'),
    h('p', { class: 'sub' }, 'Topics and their subscriptions. The fan-out counters cover every topic (the metrics have no per-topic label).'),
    h('div', { class: 'panel' }, body),
    h('div', { class: 'panel' }, h('h2', {}, 'Fan-out deliveries by protocol (all topics, since the nodes started)'), deliveries));
  return async () => {
    const d = await api('topics');
    fill(body, table([
      ['Topic', (t) => link('#/topics/' + enc(t.name), t.name)],
      ['Type', (t) => t.fifo ? badge('FIFO') : badge('standard', 'grey')],
      ['Display name', (t) => t.display_name || dash],
      ['Confirmed', (t) => num(t.subscriptions_confirmed), 'num'],
      ['Pending', (t) => num(t.subscriptions_pending), 'num'],
      ['Partitions', (t) => num(t.partitions), 'num'],
    ], d.topics, 'No topics yet.'));
    const out = (o) => (r) => h('span', {}, num(r.totals[o]), r.rates[o] ? h('span', { class: 'muted' }, ' (' + rate(r.rates[o]) + '/s)') : null);
    fill(deliveries, table([
      ['Protocol', (r) => r.protocol],
      ['Delivered', out('delivered'), 'num'],
      ['Filtered', out('filtered'), 'num'],
      ['Retried', out('retried'), 'num'],
      ['Dead-lettered', out('dead_lettered'), 'num'],
      ['Dropped', out('dropped'), 'num'],
    ], d.deliveries, 'Nothing delivered yet.'));
  };
});

route(/^\/topics\/(.+)$/, 'topics', (main, name) => {
  const head = h('h1', {}, name);
  const sub = h('p', { class: 'sub' });
  let fifo = false;
  const out = h('div', { class: 'result', id: 'publish-result' });
  const fifoFields = h('div', { class: 'row' },
    h('label', {}, 'Message group id', h('input', { name: 'group' })),
    h('label', {}, 'Deduplication id', h('input', { name: 'dedup', placeholder: 'content-based if enabled' })));
  const form = h('form', {},
    h('label', { class: 'wide' }, 'Message', h('textarea', { name: 'message', id: 'publish-message', required: true })),
    h('div', { class: 'row' },
      h('label', {}, 'Subject', h('input', { name: 'subject' })),
      h('label', { style: 'flex:1' }, 'String attributes (key=value per line)', h('textarea', { name: 'attrs', style: 'min-height:34px' }))),
    fifoFields,
    h('div', { class: 'row', style: 'margin-top:8px' }, h('button', { type: 'submit' }, 'Publish')),
    out);
  submitter(form, out, async () => {
    const f = form.elements;
    const req = { message: f.message.value, subject: f.subject.value };
    const attrs = parseAttrs(f.attrs.value);
    if (Object.keys(attrs).length) req.attributes = attrs;
    if (fifo) {
      req.message_group_id = f.group.value;
      if (f.dedup.value) req.message_deduplication_id = f.dedup.value;
    }
    const r = await api('topics/' + enc(name) + '/publish', req);
    result(out, true, 'Published message ' + r.message_id + '.');
  });
  const subs = h('div');
  const groups = h('div');
  const triggers = h('div');
  const attrs = h('div');
  fill(main,
    h('div', { class: 'crumbs' }, link('#/topics', 'Topics'), ' / '), head, sub,
    h('div', { class: 'panel' }, h('h2', {}, 'Subscriptions'), subs,
      h('p', { class: 'note' }, 'Per-subscription delivery counts are not exposed by the API; the topics page shows the fan-out counters by protocol.')),
    h('div', { class: 'grid2' },
      h('div', { class: 'panel' }, h('h2', {}, 'Publish'), form),
      h('div', { class: 'panel' }, h('h2', {}, 'Partitions'), groups, h('h2', { style: 'margin-top:14px' }, 'Triggers'), triggers)),
    h('div', { style: 'height:16px' }),
    h('div', { class: 'panel' }, h('details', {}, h('summary', {}, 'Attributes'), attrs)));
  return async () => {
    const t = await api('topics/' + enc(name));
    fifo = t.fifo;
    fifoFields.style.display = fifo ? '' : 'none';
    fill(head, name, t.fifo ? badge('FIFO') : badge('standard', 'grey'));
    fill(sub, t.arn);
    fill(subs, table([
      ['Protocol', (s) => s.protocol],
      ['Endpoint', (s) => s.protocol === 'sqs' ? queueLink(s.endpoint.split(':').pop()) : s.endpoint, 'mono'],
      ['State', (s) => s.pending ? badge('pending confirmation', 'warn') : badge('confirmed', 'ok')],
      ['Raw', (s) => s.attributes.RawMessageDelivery === 'true' ? 'yes' : 'no'],
      ['Filter policy', (s) => s.attributes.FilterPolicy ? h('pre', {}, s.attributes.FilterPolicy) : dash],
      ['Dead-letter queue', (s) => {
        try { return queueLink(JSON.parse(s.attributes.RedrivePolicy).deadLetterTargetArn.split(':').pop()); } catch (e) { return dash; }
      }],
    ], t.subscriptions, 'No subscriptions.'));
    fill(groups, groupsTable(t.groups));
    fill(triggers, triggerLinks(t.triggers));
    fill(attrs, kvTable(t.attributes));
  };
});

route(/^\/streams$/, 'streams', (main) => {
  const body = h('div');
  fill(main,
    h('h1', {}, 'Streams'),
    h('p', { class: 'sub' }, 'Incoming rates are the shard leaders\' load meters (the short window), summed over the stream.'),
    h('div', { class: 'panel' }, body));
  return async () => {
    const ss = await api('streams');
    fill(body, table([
      ['Stream', (s) => link('#/streams/' + enc(s.name), s.name)],
      ['Status', (s) => stateBadge(s.status)],
      ['Mode', (s) => badge(s.mode || dash, s.mode === 'ON_DEMAND' ? 'ok' : 'grey')],
      ['Open shards', (s) => num(s.open_shards), 'num'],
      ['Retention', (s) => s.retention_hours + ' h', 'num'],
      ['Consumers', (s) => num(s.consumers), 'num'],
      ['Records in/s', (s) => rate(s.incoming_records_per_sec), 'num'],
    ], ss, 'No streams yet.'));
  };
});

route(/^\/streams\/(.+)$/, 'streams', (main, name) => {
  const head = h('h1', {}, name);
  const sub = h('p', { class: 'sub' });
  const st = stats([['status', 'Status'], ['open', 'Open shards'], ['retention', 'Retention'], ['in', 'Records in/s'], ['inBytes', 'Bytes in/s']]);
  const shards = h('div');
  const scalingBox = h('div');
  const consumers = h('div');
  const triggers = h('div');
  const groupsBox = h('div');
  const storeKey = 'nimbus.groups.' + name;
  const watched = new Set(JSON.parse(localStorage.getItem(storeKey) || '[]'));
  const groupOut = h('div', { class: 'result' });
  const groupForm = h('form', { class: 'inline' },
    h('label', {}, 'Consumer group', h('input', { name: 'group', required: true, placeholder: 'group name' })),
    h('button', { type: 'submit', class: 'secondary' }, 'Watch'));
  submitter(groupForm, groupOut, async () => {
    const g = groupForm.elements.group.value.trim();
    await api('streams/' + enc(name) + '/groups/' + enc(g));
    watched.add(g);
    localStorage.setItem(storeKey, JSON.stringify([...watched]));
    result(groupOut, true, '');
    groupForm.reset();
  });
  fill(main,
    h('div', { class: 'crumbs' }, link('#/streams', 'Streams'), ' / '), head, sub, st.el,
    h('div', { class: 'panel' }, h('h2', {}, 'Shards'), shards,
      h('p', { class: 'note' }, 'Indented shards are children of a split or merge; closed shards are greyed. Rates are measured on each shard\'s leader.')),
    h('div', { class: 'panel' }, h('h2', {}, 'Consumer groups'),
      h('p', { class: 'note', style: 'margin-bottom:8px' }, 'The API has no call listing a stream\'s groups: name one to watch it. Lag is the age of the oldest record the group has not committed.'),
      groupForm, groupOut, groupsBox),
    h('div', { class: 'grid2' },
      h('div', { class: 'panel' }, h('h2', {}, 'Scaling'), scalingBox),
      h('div', { class: 'panel' }, h('h2', {}, 'Registered consumers'), consumers, h('h2', { style: 'margin-top:14px' }, 'Triggers'), triggers)));

  async function renderGroups() {
    const parts = [];
    for (const g of watched) {
      let body;
      try {
        const d = await api('streams/' + enc(name) + '/groups/' + enc(g));
        body = h('div', {},
          h('div', { class: 'muted' }, d.members.length + ' member(s): ' + (d.members.map((m) => m.id).join(', ') || 'none')),
          table([
            ['Shard', (s) => s.shard_id, 'mono'],
            ['Owner', (s) => s.owner || dash],
            ['Checkpoint', (s) => s.finished ? badge('finished', 'grey') : (s.checkpoint || dash), 'mono'],
            ['Lag', (s) => s.error ? h('span', { title: s.error }, badge('error', 'bad')) : (s.pending ? age(s.lag_ms / 1000) : badge('caught up', 'ok')), 'num'],
          ], d.shards));
      } catch (e) {
        body = h('div', { class: 'muted' }, e.message);
      }
      parts.push(h('div', { style: 'margin-top:12px' },
        h('div', { class: 'row' }, h('strong', {}, g), h('button', { class: 'secondary', onclick: () => {
          watched.delete(g);
          localStorage.setItem(storeKey, JSON.stringify([...watched]));
          poller.kick();
        } }, 'Stop watching')), body));
    }
    fill(groupsBox, parts);
  }

  return async () => {
    const s = await api('streams/' + enc(name));
    fill(head, name, badge(s.mode, s.mode === 'ON_DEMAND' ? 'ok' : 'grey'));
    fill(sub, s.arn + ' · created ' + when(s.created) + ' · max record ' + s.max_record_kib + ' KiB');
    const open = s.shards.filter((x) => x.open);
    const total = (f) => open.reduce((a, x) => (x[f] === null ? a : (a === null ? 0 : a) + x[f]), null);
    st.set('status', s.status);
    st.set('open', String(open.length));
    st.set('retention', s.retention_hours + ' h');
    st.set('in', rate(total('incoming_records_per_sec')));
    st.set('inBytes', bytes(total('incoming_bytes_per_sec')));
    fill(shards, table([
      ['Shard', (x) => h('span', { class: 'mono' }, h('span', { class: 'indent', style: 'width:' + (x.depth * 18) + 'px' }), x.depth ? '↳ ' : '', x.id)],
      ['State', (x) => x.open ? badge('open', 'ok') : badge('closed', 'grey')],
      ['Keyspace', (x) => x.keyspace_percent.toFixed(x.keyspace_percent < 1 ? 3 : 1) + ' %', 'num'],
      ['Parents', (x) => x.parents.join(', ') || dash, 'mono'],
      ['Children', (x) => x.children.join(', ') || dash, 'mono'],
      ['Leader', (x) => x.leader || (x.open ? badge('no leader', 'bad') : dash)],
      ['In rec/s', (x) => rate(x.incoming_records_per_sec), 'num'],
      ['In bytes/s', (x) => bytes(x.incoming_bytes_per_sec), 'num'],
      ['Out rec/s', (x) => rate(x.outgoing_records_per_sec), 'num'],
    ], s.shards.map((x) => Object.assign({ _class: x.open ? null : 'closed' }, x))));
    const sc = s.scaling;
    fill(scalingBox,
      s.mode === 'ON_DEMAND' ? h('p', { class: 'note' }, 'On-demand: shards split and merge with the write load.') :
        h('p', { class: 'note' }, 'Provisioned: these settings apply once the stream is switched to ON_DEMAND.'),
      sc ? table([['Setting', (r) => r[0]], ['Value', (r) => r[1], 'num']], [
        ['Records/s per shard', num(sc.shard_records_per_sec)],
        ['Bytes/s per shard', bytes(sc.shard_bytes_per_sec)],
        ['Max open shards', num(sc.max_shard_count)],
        ['Window', age(sc.window_ms / 1000)],
        ['Cooldown', age(sc.cooldown_ms / 1000)],
      ]) : null,
      s.last_reshard ? h('div', { style: 'margin-top:10px' },
        h('strong', {}, 'Last reshard: '), s.last_reshard.kind + ' ' + s.last_reshard.parents.join(', ') + ' → ' + s.last_reshard.children.join(', ') + ' at ' + when(s.last_reshard.at),
        h('div', { class: 'muted' }, s.last_reshard.reason)) : h('div', { class: 'muted', style: 'margin-top:10px' }, 'Never resharded.'));
    fill(consumers, table([
      ['Consumer', (c) => c.name], ['Status', (c) => stateBadge(c.status)], ['Created', (c) => when(c.created)],
    ], s.consumers, 'No registered consumers.'));
    fill(triggers, triggerLinks(s.triggers));
    await renderGroups();
  };
});

function triggerColumns() {
  return [
    ['Trigger', (t) => link('#/triggers/' + enc(t.name), t.name)],
    ['Source', (t) => sourceLink(t.source)],
    ['State', (t) => stateBadge(t.state)],
    ['Concurrency', (t) => (t.concurrency === null ? dash : num(t.concurrency)) + ' / ' + (t.max_concurrency || 'auto'), 'num'],
    ['Invocations', (t) => num(t.invocations), 'num'],
    ['Per s', (t) => rate(t.invocation_rate), 'num'],
    ['Errors', (t) => t.errors ? h('span', { style: 'color:var(--bad)' }, num(t.errors)) : num(t.errors), 'num'],
    ['Throttles', (t) => num(t.throttles), 'num'],
    ['Last result', (t) => t.last_result ? h('span', {}, stateBadge(t.last_result.outcome), ' ', h('span', { class: 'muted' }, when(t.last_result.at)),
      t.last_result.error ? h('div', { class: 'muted mono' }, t.last_result.error) : null) : dash],
  ];
}

route(/^\/triggers$/, 'triggers', (main) => {
  const body = h('div');
  fill(main,
    h('h1', {}, 'Triggers'),
    h('p', { class: 'sub' }, 'Event-source mappings pushing batches to function endpoints. Counts are since the nodes started; concurrency is the current target.'),
    h('div', { class: 'panel' }, body));
  return async () => {
    fill(body, table(triggerColumns(), await api('triggers'), 'No triggers yet.'));
  };
});

route(/^\/triggers\/(.+)$/, 'triggers', (main, name) => {
  const head = h('h1', {}, name);
  const sub = h('p', { class: 'sub' });
  const st = stats([['state', 'State'], ['conc', 'Concurrency'], ['inv', 'Invocations'], ['rate', 'Invocations/s'],
    ['err', 'Errors'], ['thr', 'Throttles'], ['age', 'Source age']]);
  const last = h('div');
  const cfg = h('pre');
  fill(main,
    h('div', { class: 'crumbs' }, link('#/triggers', 'Triggers'), ' / '), head, sub, st.el,
    h('div', { class: 'grid2' },
      h('div', { class: 'panel' }, h('h2', {}, 'Last result'), last),
      h('div', { class: 'panel' }, h('h2', {}, 'Configuration'), cfg)));
  return async () => {
    const t = await api('triggers/' + enc(name));
    fill(head, name, stateBadge(t.state));
    fill(sub, sourceLink(t.source), ' → ', t.endpoint, ' (' + t.format + ')');
    st.set('state', t.state);
    st.set('conc', (t.concurrency === null ? dash : num(t.concurrency)) + ' / ' + (t.max_concurrency || 'auto'));
    st.set('inv', num(t.invocations));
    st.set('rate', rate(t.invocation_rate));
    st.set('err', num(t.errors));
    st.set('thr', num(t.throttles));
    st.set('age', age(t.source_age_seconds));
    const r = t.last_result;
    fill(last, r ? table([['', (x) => x[0]], ['', (x) => x[1]]], [
      ['Outcome', stateBadge(r.outcome)], ['At', when(r.at)], ['Invocations', num(r.invocations)], ['Failures', num(r.failures)],
      ['Error', r.error ? h('span', { class: 'mono' }, r.error) : dash],
    ]) : h('div', { class: 'empty' }, 'Not invoked yet.'));
    cfg.textContent = JSON.stringify(t.config, null, 2);
  };
});

// ---- router and poller ----------------------------------------------------

const poller = {
  refresh: null,
  timer: null,
  seq: 0, // the page's number: a refresh of an earlier page reports nothing
  busy: -1, // the page whose refresh is running
  async tick() {
    const seq = this.seq;
    if (this.busy === seq) return; // running: it schedules the next tick
    clearTimeout(this.timer);
    const paused = document.getElementById('pause').checked || document.hidden;
    if (this.refresh && !paused) {
      this.busy = seq;
      try {
        await this.refresh();
        if (seq === this.seq) live(true, 'updated ' + new Date().toLocaleTimeString());
      } catch (e) {
        if (seq === this.seq) showError(e);
      } finally {
        if (this.busy === seq) this.busy = -1;
      }
    } else if (paused) {
      live(null, 'paused');
    }
    if (seq === this.seq) {
      clearTimeout(this.timer);
      this.timer = setTimeout(() => this.tick(), POLL_MS);
    }
  },
  kick() { setTimeout(() => this.tick(), 0); },
};

function live(ok, text) {
  document.getElementById('live-dot').className = 'dot' + (ok === true ? ' ok' : ok === false ? ' bad' : '');
  document.getElementById('live-text').textContent = text;
}

function showError(e) {
  live(false, e.message);
  const main = document.getElementById('main');
  let box = document.getElementById('page-error');
  if (e.status === 404) {
    fill(main, h('div', { class: 'error-box', id: 'page-error' }, e.message), h('a', { href: '#/' }, 'Back to the cluster'));
    poller.refresh = null;
    return;
  }
  if (!box) {
    box = h('div', { class: 'error-box', id: 'page-error' });
    main.prepend(box);
  }
  box.textContent = 'Could not refresh: ' + e.message;
}

function navigate() {
  const path = decodeURIComponent(location.hash.replace(/^#/, '')) || '/';
  const main = document.getElementById('main');
  poller.seq++;
  for (const v of views) {
    const m = path.match(v.re);
    if (!m) continue;
    for (const a of document.querySelectorAll('#nav a')) a.classList.toggle('active', a.dataset.section === v.section);
    const refresh = v.mount(main, ...m.slice(1));
    poller.refresh = async () => {
      await refresh();
      const box = document.getElementById('page-error');
      if (box) box.remove();
    };
    poller.kick();
    return;
  }
  fill(main, h('div', { class: 'error-box' }, 'No such page: ' + path));
  poller.refresh = null;
}

window.addEventListener('hashchange', navigate);
document.getElementById('pause').addEventListener('change', () => poller.kick());
document.addEventListener('visibilitychange', () => poller.kick());
api('cluster').then((c) => { document.getElementById('node-id').textContent = c.node_id; }).catch(() => {});
navigate();
