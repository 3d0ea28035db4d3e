const root = process.argv[2];
const { decodeFromEdge, decodeFromConnector } = await import(`${root}/shared/protocol/codec.ts`);
const msgs = ['{"v":3,"t":"start"}', '{"v":3,"t":"end"}', '{"v":3,"t":"credit","upTo":1048576,"mark":"m12"}', '{"v":3,"t":"mark","id":"m13"}'];
for (let round = 0; round < 3; round++) {
  const t0 = performance.now();
  let n = 0;
  for (let i = 0; i < 400_000; i++) { const r = decodeFromEdge(msgs[i & 3], 3); if (r.ok) n++; }
  const t1 = performance.now();
  console.log(root.split('/').pop(), round, ((t1 - t0) * 1000 / 400_000).toFixed(3), 'µs/decode', n);
}
