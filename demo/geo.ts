/** Longitude/latitude pairs in degrees, as GeoJSON has them. */
export type Position = [number, number];

/**
 * Natural Earth rings that cross the antimeridian jump from +180 to -180. Unwrapped, they become one continuous
 * outline (longitudes may leave [-180, 180]); a ring around a pole (Antarctica) is closed along that pole.
 */
export function unwrapRing(ring: ReadonlyArray<ReadonlyArray<number>>): Position[] {
  const points = ring.map(([lon = 0, lat = 0]): Position => [lon, lat]);
  let shift = 0;
  for (let i = 1; i < points.length; i++) {
    const step = points[i]![0] + shift - points[i - 1]![0];
    if (step > 180) shift -= 360;
    else if (step < -180) shift += 360;
    points[i]![0] += shift;
  }
  if (shift !== 0) {
    const pole = points.reduce((sum, [, lat]) => sum + lat, 0) < 0 ? -90 : 90;
    points.pop(); // the closing point, now 360° away from the first
    const [firstLon, firstLat] = points[0]!;
    points.push([points.at(-1)![0], pole], [firstLon, pole], [firstLon, firstLat]);
  }
  return points;
}

/** Splits a line where it jumps across the antimeridian, so that no segment is drawn across the whole world. */
export function splitAtAntimeridian(line: ReadonlyArray<ReadonlyArray<number>>): Position[][] {
  const parts: Position[][] = [[]];
  for (const [lon = 0, lat = 0] of line) {
    const part = parts.at(-1)!;
    const previous = part.at(-1);
    if (previous !== undefined && Math.abs(lon - previous[0]) > 180) parts.push([[lon, lat]]);
    else part.push([lon, lat]);
  }
  return parts.filter((part) => part.length > 1);
}
