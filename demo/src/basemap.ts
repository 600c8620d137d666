import type { Feature, FeatureCollection, MultiLineString, MultiPolygon, Polygon } from 'geojson';
import type { StyleSpecification } from 'maplibre-gl';
import { feature, mesh } from 'topojson-client';
import type { GeometryCollection, Topology } from 'topojson-specification';
import { splitAtAntimeridian, unwrapRing } from '../geo.js';
import countries50m from 'world-atlas/countries-50m.json' with { type: 'json' };

/** MapLibre source and layer ids the app refers to. */
export const SATELLITE = 'satellite';

const topology = countries50m as unknown as Topology<{ countries: GeometryCollection; land: GeometryCollection }>;

function graticule(step: number): MultiLineString {
  const lines: Array<Array<[number, number]>> = [];
  for (let lon = -180; lon <= 180; lon += step) lines.push([[lon, -85], [lon, 0], [lon, 85]]);
  for (let lat = -60; lat <= 60; lat += step) lines.push([[-180, lat], [0, lat], [180, lat]]);
  return { type: 'MultiLineString', coordinates: lines };
}

// MapLibre draws an edge from +180 to -180 straight across the world: unwrap polygons, split lines.
function unwrapLand(land: FeatureCollection<Polygon | MultiPolygon>): FeatureCollection<MultiPolygon> {
  const features = land.features.map((item): Feature<MultiPolygon> => {
    const polygons = item.geometry.type === 'Polygon' ? [item.geometry.coordinates] : item.geometry.coordinates;
    return { ...item, geometry: { type: 'MultiPolygon', coordinates: polygons.map((rings) => rings.map(unwrapRing)) } };
  });
  return { type: 'FeatureCollection', features };
}

function splitLines(lines: MultiLineString): MultiLineString {
  return { type: 'MultiLineString', coordinates: lines.coordinates.flatMap(splitAtAntimeridian) };
}

/**
 * An offline style: Natural Earth country shapes (from the `world-atlas` package) as GeoJSON, a graticule, and the
 * protected satellite layer between land and borders. No tile CDN, no glyphs, no sprites: nothing from the internet.
 */
export function offlineStyle(tileUrl: string, satelliteVisible = true): StyleSpecification {
  const land = unwrapLand(feature(topology, topology.objects.land) as FeatureCollection<Polygon | MultiPolygon>);
  const borders = splitLines(mesh(topology, topology.objects.countries, (a, b) => a !== b));
  const coast = splitLines(mesh(topology, topology.objects.land));
  return {
    version: 8,
    sources: {
      land: { type: 'geojson', data: land },
      borders: { type: 'geojson', data: borders },
      coast: { type: 'geojson', data: coast },
      graticule: { type: 'geojson', data: graticule(30) },
      [SATELLITE]: {
        type: 'raster',
        tiles: [tileUrl],
        tileSize: 256,
        maxzoom: 12,
        attribution: 'Synthetic imagery (local stand-in)',
      },
    },
    layers: [
      { id: 'ocean', type: 'background', paint: { 'background-color': '#0a1520' } },
      { id: 'graticule', type: 'line', source: 'graticule', paint: { 'line-color': '#1b2b3b', 'line-width': 1 } },
      { id: 'land', type: 'fill', source: 'land', paint: { 'fill-color': '#1a2733' } },
      {
        id: SATELLITE,
        type: 'raster',
        source: SATELLITE,
        // Hidden while signed out: no tile requests without a token.
        layout: { visibility: satelliteVisible ? 'visible' : 'none' },
        paint: { 'raster-opacity': 0.9, 'raster-fade-duration': 200 },
      },
      { id: 'borders', type: 'line', source: 'borders', paint: { 'line-color': 'rgba(255,255,255,0.38)', 'line-width': 0.7 } },
      { id: 'coast', type: 'line', source: 'coast', paint: { 'line-color': 'rgba(160,205,235,0.55)', 'line-width': 0.9 } },
    ],
  };
}
