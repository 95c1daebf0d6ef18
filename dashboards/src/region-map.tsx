// The region map in SVG: Guangxi's outline, a marker per city placed by latitude and longitude
// (ready units in the circle, in use and stock beside it, unacknowledged alerts in red, the
// gateway's state as a solid or dashed ring AND in words), and a layer of moves between cities
// (arrows with counts and ETAs) for the allocation plan.
import { t } from "./i18n";
import type { City } from "./model";
import { cityName, outlinePath, project, regionCities, viewBox, type RegionCity } from "./region";
import type { CityStats } from "./region-store";

export interface Move {
  from: string;
  to: string;
  count: number;
  eta_minutes?: number;
}

export interface RegionMapProps {
  stats: Record<string, CityStats>;
  cities: Record<string, City>;
  /** Quota gap per city, when the server reports it. */
  gaps?: Record<string, number> | null;
  moves?: readonly Move[];
  selected?: string | null;
  onSelect?: (code: string) => void;
}

const radius = 17;

const labelOffset: Record<RegionCity["label"], { dx: number; dy: number; anchor: "start" | "end" | "middle" }> = {
  right: { dx: radius + 6, dy: -4, anchor: "start" },
  left: { dx: -(radius + 6), dy: -4, anchor: "end" },
  above: { dx: 0, dy: -(radius + 22), anchor: "middle" },
  below: { dx: 0, dy: radius + 18, anchor: "middle" },
};

function Marker({ city, stats, info, gap, selected, onSelect }: {
  city: RegionCity;
  stats: CityStats;
  info?: City;
  gap?: number;
  selected: boolean;
  onSelect?: (code: string) => void;
}) {
  const [x, y] = project(city.lon, city.lat);
  const online = info?.online === true;
  const off = labelOffset[city.label];
  const name = cityName(city.code);
  const summary = t("map.marker_label", {
    city: name,
    ready: stats.ready,
    in_use: stats.inUse,
    stock: stats.stock,
    alerts: stats.alerts,
    gateway: online ? t("gateway.online") : t("gateway.offline"),
  });
  return (
    <g
      class={`city-marker${online ? " is-online" : " is-offline"}${selected ? " is-selected" : ""}`}
      transform={`translate(${x.toFixed(1)},${y.toFixed(1)})`}
      data-city={city.code}
      role={onSelect ? "button" : undefined}
      tabIndex={onSelect ? 0 : undefined}
      aria-label={summary}
      onClick={() => onSelect?.(city.code)}
      onKeyDown={(e) => {
        if (e.key === "Enter" || e.key === " ") {
          e.preventDefault();
          onSelect?.(city.code);
        }
      }}
    >
      <title>{summary}</title>
      <circle class="marker-ring" r={radius} />
      <text class="marker-ready" y={7} text-anchor="middle" data-testid={`ready-${city.code}`}>
        {stats.ready}
      </text>
      {stats.alerts > 0 && (
        <g class="marker-alerts" transform={`translate(${radius - 2},${-radius + 2})`}>
          <circle r={9} />
          <text y={4} text-anchor="middle">
            {stats.alerts}
          </text>
        </g>
      )}
      <text class="marker-name" x={off.dx} y={off.dy} text-anchor={off.anchor}>
        {name}
        {!online && <tspan class="marker-offline-word"> {t("gateway.offline")}</tspan>}
      </text>
      <text class="marker-detail" x={off.dx} y={off.dy + 17} text-anchor={off.anchor} data-testid={`detail-${city.code}`}>
        {t("map.in_use_stock", { in_use: stats.inUse, stock: stats.stock })}
        {gap !== undefined && gap > 0 && <tspan class="marker-gap"> · {t("map.gap", { gap })}</tspan>}
      </text>
    </g>
  );
}

function Arrow({ move }: { move: Move }) {
  const a = regionCities.find((c) => c.code === move.from);
  const b = regionCities.find((c) => c.code === move.to);
  if (!a || !b) return null;
  const [x1, y1] = project(a.lon, a.lat);
  const [x2, y2] = project(b.lon, b.lat);
  const len = Math.hypot(x2 - x1, y2 - y1) || 1;
  const [ux, uy] = [(x2 - x1) / len, (y2 - y1) / len];
  // Start and end outside the markers; bend to the left so two-way moves don't overlap.
  const [sx, sy] = [x1 + ux * (radius + 3), y1 + uy * (radius + 3)];
  const [ex, ey] = [x2 - ux * (radius + 8), y2 - uy * (radius + 8)];
  const [cx, cy] = [(sx + ex) / 2 - uy * len * 0.18, (sy + ey) / 2 + ux * len * 0.18];
  const [lx, ly] = [(sx + 2 * cx + ex) / 4, (sy + 2 * cy + ey) / 4];
  const label =
    move.eta_minutes === undefined
      ? t("map.move_count", { count: move.count })
      : t("map.move_count_eta", { count: move.count, eta: move.eta_minutes });
  return (
    <g class="move">
      <path d={`M${sx},${sy} Q${cx},${cy} ${ex},${ey}`} marker-end="url(#arrow-head)" />
      <text x={lx} y={ly} text-anchor="middle">
        {label}
      </text>
    </g>
  );
}

export function RegionMap({ stats, cities, gaps = null, moves = [], selected = null, onSelect }: RegionMapProps) {
  return (
    <svg
      class="region-map"
      viewBox={`0 0 ${viewBox.width} ${viewBox.height}`}
      role="group"
      aria-labelledby="region-map-title"
      data-testid="region-map"
    >
      <title id="region-map-title">{t("map.title")}</title>
      <defs>
        <marker id="arrow-head" viewBox="0 0 10 10" refX="8" refY="5" markerWidth="7" markerHeight="7" orient="auto">
          <path d="M0,0 L10,5 L0,10 z" class="arrow-head" />
        </marker>
      </defs>
      <path class="map-land" d={outlinePath} />
      <g class="map-moves">
        {moves.map((m, i) => (
          <Arrow key={i} move={m} />
        ))}
      </g>
      <g class="map-cities">
        {regionCities.map((c) => (
          <Marker
            key={c.code}
            city={c}
            stats={stats[c.code] ?? { stock: 0, inUse: 0, ready: 0, alerts: 0 }}
            info={cities[c.code]}
            gap={gaps ? (gaps[c.code] ?? 0) : undefined}
            selected={selected === c.code}
            onSelect={onSelect}
          />
        ))}
      </g>
      <text class="map-note" x={8} y={viewBox.height - 10}>
        {t("map.schematic")}
      </text>
    </svg>
  );
}
