// The region's 14 cities (ARCHITECTURE.md, approximate centres) and a schematic outline of
// Guangxi, drawn by hand from a simplified polygon: the map needs no tiles and fetches nothing.
import { t, type MessageKey } from "./i18n";

export interface RegionCity {
  code: string;
  lat: number;
  lon: number;
  /** Where the label sits beside the marker, so neighbours (Qinzhou, Beihai, ...) don't collide. */
  label: "right" | "left" | "above" | "below";
}

export const regionCities: readonly RegionCity[] = [
  { code: "450100", lat: 22.803, lon: 108.321, label: "below" },
  { code: "450200", lat: 24.327, lon: 109.427, label: "right" },
  { code: "450300", lat: 25.253, lon: 110.3, label: "right" },
  { code: "450400", lat: 23.462, lon: 111.276, label: "right" },
  { code: "450500", lat: 21.473, lon: 109.164, label: "right" },
  { code: "450600", lat: 21.673, lon: 108.348, label: "left" },
  { code: "450700", lat: 21.887, lon: 108.626, label: "right" },
  { code: "450800", lat: 23.103, lon: 109.586, label: "right" },
  { code: "450900", lat: 22.653, lon: 110.14, label: "right" },
  { code: "451000", lat: 23.893, lon: 106.632, label: "above" },
  { code: "451100", lat: 24.412, lon: 111.545, label: "above" },
  { code: "451200", lat: 24.701, lon: 108.123, label: "above" },
  { code: "451300", lat: 23.722, lon: 109.606, label: "right" },
  { code: "451400", lat: 22.392, lon: 107.359, label: "left" },
];

export function cityName(code: string | null | undefined): string {
  if (!code) return "—";
  const key = `city.${code}` as MessageKey;
  const name = t(key);
  return name === key ? code : name;
}

/** Guangxi's border, simplified to a few dozen points (lon, lat), clockwise from the north-west. */
export const outline: readonly [number, number][] = [
  [104.45, 24.65], [104.95, 24.85], [105.5, 24.95], [106.2, 25.1], [106.9, 25.2],
  [107.5, 25.45], [108.1, 25.45], [108.6, 25.55], [109.2, 25.75], [109.5, 26.05],
  [110.1, 26.15], [110.6, 26.35], [111.1, 26.25], [111.3, 25.8], [111.55, 25.35],
  [111.45, 25.0], [111.75, 24.85], [112.05, 24.65], [111.95, 24.2], [111.7, 23.85],
  [111.6, 23.45], [111.4, 23.1], [111.35, 22.75], [110.75, 22.45], [110.45, 22.05],
  [110.2, 21.9], [109.9, 21.6], [109.75, 21.45], [109.45, 21.5], [109.15, 21.4],
  [108.9, 21.6], [108.6, 21.65], [108.35, 21.55], [107.95, 21.5], [107.5, 21.65],
  [107.05, 21.85], [106.7, 22.0], [106.6, 22.45], [106.75, 22.85], [106.2, 22.95],
  [105.55, 23.15], [105.9, 23.6], [105.35, 24.05], [104.9, 24.2], [104.45, 24.4],
];

/** Map units per degree of latitude. */
const scale = 100;
const midLat = 23.5;
const west = 104.2;
const north = 26.5;
const lonScale = scale * Math.cos((midLat * Math.PI) / 180);

/** Plate carrée scaled by cos(23.5°) so distances look right at Guangxi's latitude. */
export function project(lon: number, lat: number): [number, number] {
  return [(lon - west) * lonScale, (north - lat) * scale];
}

/** The map's drawing area: the outline plus room for labels. */
export const viewBox = (() => {
  const [x1] = project(112.2, 0);
  const [, y1] = project(0, 20.95);
  return { width: Math.ceil(x1 + 90), height: Math.ceil(y1) };
})();

export const outlinePath =
  outline
    .map(([lon, lat], i) => {
      const [x, y] = project(lon, lat);
      return `${i === 0 ? "M" : "L"}${x.toFixed(1)},${y.toFixed(1)}`;
    })
    .join("") + "Z";
