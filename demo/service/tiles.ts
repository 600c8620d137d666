import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { MultiPolygon, Polygon } from 'geojson';
import { feature } from 'topojson-client';
import type { GeometryCollection, Topology } from 'topojson-specification';
import { unwrapRing } from '../geo.js';
import { encodePng } from './png.js';

/** Tiles are 256 px squares in Web Mercator, addressed by z/x/y like every XYZ raster service. */
export const TILE_SIZE = 256;
export const MAX_ZOOM = 12;

/**
 * Land edges in Web Mercator world units ([0, 1]²), bucketed by y so that a scanline only looks at the edges that
 * can cross it. Natural Earth 1:50m land, the same data the page draws its outlines from.
 */
interface LandEdges {
  readonly x0: Float64Array;
  readonly y0: Float64Array;
  readonly x1: Float64Array;
  readonly y1: Float64Array;
  readonly buckets: ReadonlyArray<Uint32Array>;
}

const BUCKETS = 1024;
const MAX_LAT = 85.0511287798;

function mercatorY(lat: number): number {
  const phi = (Math.max(-MAX_LAT, Math.min(MAX_LAT, lat)) * Math.PI) / 180;
  return (1 - Math.log(Math.tan(Math.PI / 4 + phi / 2)) / Math.PI) / 2;
}

function loadLand(): LandEdges {
  const file = createRequire(import.meta.url).resolve('world-atlas/land-50m.json');
  const topology = JSON.parse(readFileSync(file, 'utf8')) as Topology<{ land: GeometryCollection }>;
  const land = feature(topology, topology.objects.land);
  const x0: number[] = [];
  const y0: number[] = [];
  const x1: number[] = [];
  const y1: number[] = [];
  const addEdge = (ax: number, ay: number, bx: number, by: number): void => {
    if (ay === by) return; // horizontal edges never cross a scanline
    x0.push(ax);
    y0.push(ay);
    x1.push(bx);
    y1.push(by);
  };
  for (const item of land.features) {
    const geometry = item.geometry as Polygon | MultiPolygon;
    const polygons = geometry.type === 'Polygon' ? [geometry.coordinates] : geometry.coordinates;
    for (const ring of polygons.flat()) {
      const points = unwrapRing(ring);
      const wraps = points.some(([lon]) => lon < -180 || lon > 180);
      for (const offset of wraps ? [-1, 0, 1] : [0]) {
        for (let i = 0; i + 1 < points.length; i++) {
          const [lonA, latA] = points[i]!;
          const [lonB, latB] = points[i + 1]!;
          addEdge((lonA + 180) / 360 + offset, mercatorY(latA), (lonB + 180) / 360 + offset, mercatorY(latB));
        }
      }
    }
  }
  const lists: number[][] = Array.from({ length: BUCKETS }, () => []);
  for (let e = 0; e < y0.length; e++) {
    const top = Math.max(0, Math.floor(Math.min(y0[e]!, y1[e]!) * BUCKETS));
    const bottom = Math.min(BUCKETS - 1, Math.floor(Math.max(y0[e]!, y1[e]!) * BUCKETS));
    for (let b = top; b <= bottom; b++) lists[b]!.push(e);
  }
  return {
    x0: Float64Array.from(x0),
    y0: Float64Array.from(y0),
    x1: Float64Array.from(x1),
    y1: Float64Array.from(y1),
    buckets: lists.map((list) => Uint32Array.from(list)),
  };
}

let land: LandEdges | undefined;

/** Which pixels of tile z/x/y are land: even-odd scanline fill of the land polygons. */
function landMask(z: number, x: number, y: number): Uint8Array {
  land ??= loadLand();
  const { x0, y0, x1, y1, buckets } = land;
  const scale = 2 ** z;
  const mask = new Uint8Array(TILE_SIZE * TILE_SIZE);
  const crossings: number[] = [];
  for (let row = 0; row < TILE_SIZE; row++) {
    const wy = (y + (row + 0.5) / TILE_SIZE) / scale;
    crossings.length = 0;
    for (const e of buckets[Math.min(BUCKETS - 1, Math.floor(wy * BUCKETS))]!) {
      const ya = y0[e]!;
      const yb = y1[e]!;
      if (wy < ya === wy < yb) continue;
      const wx = x0[e]! + ((wy - ya) * (x1[e]! - x0[e]!)) / (yb - ya);
      crossings.push((wx * scale - x) * TILE_SIZE); // in tile pixels
    }
    crossings.sort((a, b) => a - b);
    for (let i = 0; i + 1 < crossings.length; i += 2) {
      const from = Math.max(0, Math.ceil(crossings[i]! - 0.5));
      const to = Math.min(TILE_SIZE - 1, Math.floor(crossings[i + 1]! - 0.5));
      if (from <= to) mask.fill(1, row * TILE_SIZE + from, row * TILE_SIZE + to + 1);
    }
  }
  return mask;
}

// Value noise on an integer lattice with a cheap integer hash: deterministic, so a tile looks the same every time.
function hash(ix: number, iy: number, seed: number): number {
  let h = (Math.imul(ix, 374761393) + Math.imul(iy, 668265263) + Math.imul(seed, 2147483647)) | 0;
  h = Math.imul(h ^ (h >>> 13), 1274126177);
  return ((h ^ (h >>> 16)) >>> 0) / 4294967295;
}

function valueNoise(u: number, v: number, seed: number): number {
  const ix = Math.floor(u);
  const iy = Math.floor(v);
  const fx = u - ix;
  const fy = v - iy;
  const sx = fx * fx * (3 - 2 * fx);
  const sy = fy * fy * (3 - 2 * fy);
  const a = hash(ix, iy, seed);
  const b = hash(ix + 1, iy, seed);
  const c = hash(ix, iy + 1, seed);
  const d = hash(ix + 1, iy + 1, seed);
  return a + (b - a) * sx + (c - a) * sy + (a - b - c + d) * sx * sy;
}

/** Fractal noise in world units: `octaves` layers from `frequency` cells per world up, each twice as fine. */
function fbm(wx: number, wy: number, frequency: number, octaves: number, seed: number): number {
  let sum = 0;
  let amplitude = 0.5;
  let norm = 0;
  for (let o = 0; o < octaves; o++) {
    sum += amplitude * valueNoise(wx * frequency, wy * frequency, seed + o);
    norm += amplitude;
    amplitude *= 0.5;
    frequency *= 2;
  }
  return sum / norm;
}

/** How green a latitude tends to be: wet tropics, dry subtropics, temperate forests, bare poles. */
function moistureAt(absLat: number): number {
  const stops: ReadonlyArray<readonly [number, number]> = [
    [0, 0.9], [12, 0.82], [20, 0.3], [30, 0.25], [42, 0.62], [55, 0.72], [65, 0.45], [72, 0.15], [90, 0],
  ];
  for (let i = 1; i < stops.length; i++) {
    const [lat, value] = stops[i]!;
    const [prevLat, prevValue] = stops[i - 1]!;
    if (absLat <= lat) return prevValue + ((absLat - prevLat) / (lat - prevLat)) * (value - prevValue);
  }
  return 0;
}

type Rgb = readonly [number, number, number];
// A near-infrared false-colour composite (as Sentinel-2 bands 8-4-3 look): vegetation glows red, bare ground is
// sand to ochre, snow and ice are white-cyan.
const SAND: Rgb = [232, 214, 176];
const OCHRE: Rgb = [188, 140, 104];
const SPARSE: Rgb = [186, 104, 92];
const FOREST: Rgb = [160, 30, 44];
const ICE: Rgb = [232, 244, 252];

function mix(a: Rgb, b: Rgb, t: number): Rgb {
  const k = Math.max(0, Math.min(1, t));
  return [a[0] + (b[0] - a[0]) * k, a[1] + (b[1] - a[1]) * k, a[2] + (b[2] - a[2]) * k];
}

function landColour(moisture: number, snow: number): Rgb {
  const dry = mix(SAND, OCHRE, moisture / 0.35);
  const green = mix(SPARSE, FOREST, (moisture - 0.55) / 0.35);
  return mix(mix(dry, green, (moisture - 0.3) / 0.25), ICE, snow);
}

/** A synthetic false-colour "satellite" tile for z/x/y; water is transparent so the base map shows through. */
export function renderTile(z: number, x: number, y: number): Buffer {
  const mask = landMask(z, x, y);
  const rgba = new Uint8Array(TILE_SIZE * TILE_SIZE * 4);
  const scale = 2 ** z;
  // Detail relative to the zoom: zooming in reveals finer texture, as real imagery does.
  const detailFrequency = 2 ** (z + 4);
  const fieldFrequency = 2 ** (z + 4);
  for (let row = 0; row < TILE_SIZE; row++) {
    const wy = (y + (row + 0.5) / TILE_SIZE) / scale;
    const lat = (Math.atan(Math.sinh(Math.PI * (1 - 2 * wy))) * 180) / Math.PI;
    const baseMoisture = moistureAt(Math.abs(lat));
    for (let col = 0; col < TILE_SIZE; col++) {
      const p = row * TILE_SIZE + col;
      if (mask[p] === 0) continue;
      const wx = (x + (col + 0.5) / TILE_SIZE) / scale;
      const regional = fbm(wx, wy, 12, 7, 3);
      const texture = fbm(wx, wy, detailFrequency, 5, 17);
      // Ridged noise reads as valleys and drainage lines.
      const ridges = 1 - Math.abs(2 * texture - 1);
      const continental = valueNoise(wx * 5, wy * 5, 53);
      let moisture = baseMoisture - 0.1 + (continental - 0.5) * 0.5 + (regional - 0.5) * 0.7 + (texture - 0.5) * 0.2;
      let shade = 0.86 + (texture - 0.5) * 0.45 - (1 - ridges) * 0.12;
      if (z >= 4) {
        // Farmland: a patchwork of parcels where the ground is neither desert nor forest.
        const warp = valueNoise(wx * detailFrequency, wy * detailFrequency, 41) * 0.6;
        const parcel = hash(Math.floor(wx * fieldFrequency + warp), Math.floor(wy * fieldFrequency - warp), 29);
        const farmland = Math.max(0, 1 - Math.abs(moisture - 0.5) / 0.25);
        moisture += (parcel - 0.5) * 0.45 * farmland;
        shade *= 1 + (parcel - 0.5) * 0.2 * farmland;
      }
      const snow = (Math.abs(lat) - 66) / 8 + (regional - 0.55) * 3;
      const [r, g, b] = landColour(moisture, snow);
      rgba[p * 4] = Math.min(255, r * shade);
      rgba[p * 4 + 1] = Math.min(255, g * shade);
      rgba[p * 4 + 2] = Math.min(255, b * shade);
      rgba[p * 4 + 3] = 255;
    }
  }
  return encodePng(TILE_SIZE, TILE_SIZE, rgba);
}
