import { readFileSync } from 'node:fs';
import { feature } from 'topojson-client';
const topo = JSON.parse(readFileSync('/work/wt/demo/node_modules/world-atlas/land-50m.json','utf8'));
const land = feature(topo, topo.objects.land) as any;
const my = (lat:number)=>{const phi=Math.max(-85.05,Math.min(85.05,lat))*Math.PI/180; return (1-Math.log(Math.tan(Math.PI/4+phi/2))/Math.PI)/2;};
for (let row=30; row<50; row++){ const wy=(row+0.5)/256; let n=0; const per: number[]=[];
 for (const f of land.features) { const g=f.geometry; const polys = g.type==='Polygon'?[g.coordinates]:g.coordinates;
 polys.forEach((p:any,pi:number)=>{ for (const ring of p) { let c=0; for (let i=0;i+1<ring.length;i++){ const ya=my(ring[i][1]), yb=my(ring[i+1][1]); if ((wy<ya)!==(wy<yb)) c++; } if (c%2) per.push(pi); n+=c; } }); }
 console.log(row, n, per.join(','));
}
