import { readFileSync } from 'node:fs';
import { feature } from 'topojson-client';
const topo = JSON.parse(readFileSync('/work/wt/demo/node_modules/world-atlas/land-50m.json','utf8'));
const land = feature(topo, topo.objects.land) as any;
for (const f of land.features) { const g=f.geometry; const polys = g.type==='Polygon'?[g.coordinates]:g.coordinates; let pi=0;
 for (const p of polys) { for (const ring of p) { for (let i=0;i+1<ring.length;i++){ const a=ring[i], b=ring[i+1]; if (Math.abs(a[0]-b[0])>90) console.log('poly',pi,'ring len',ring.length, a, b);} } pi++; } }
