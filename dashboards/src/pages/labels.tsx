// A printable sheet of QR labels for the city's devices: 3 × 7 labels of 63.5 × 38.1 mm on A4
// (the common label sheet). Each QR carries the device id; the desk's scanner reads it back.
import { useEffect, useState } from "preact/hooks";
import { listAll } from "../api";
import { Loading, Notice, ProblemText } from "../components";
import { host } from "../host";
import { t, tWord } from "../i18n";
import { deviceClasses, type Device } from "../model";
import { describeError, type Plain } from "../problems";
import { cityName, regionCities } from "../region";
import { QrCode } from "../qr";
import { session } from "../session";

/** Past this many characters an id is printed smaller, so that it fits its label whole. */
const longId = 24;

function homeCity(): string {
  const h = host.value;
  if (h?.kind === "gateway" && h.city) return h.city;
  return session.value?.city ?? regionCities[0].code;
}

export default function LabelsPage() {
  const fixedCity = host.value?.kind === "gateway" || session.value?.role === "custodian";
  const [city, setCity] = useState(homeCity);
  const [cls, setCls] = useState("");
  const [devices, setDevices] = useState<Device[] | null>(null);
  const [failure, setFailure] = useState<Plain | null>(null);

  useEffect(() => {
    setDevices(null);
    listAll<Device>(`api/v1/devices?city=${city}`)
      .then((list) => {
        setDevices(list.filter((d) => d.city === city || !d.city).sort((a, b) => a.id.localeCompare(b.id)));
        setFailure(null);
      })
      .catch((e) => setFailure(describeError(e)));
  }, [city]);

  const shown = (devices ?? []).filter((d) => !cls || d.class === cls);
  return (
    <div class="page labels-page">
      <div class="page-head no-print">
        <h1>{t("page.labels")}</h1>
      </div>
      <form class="toolbar no-print" onSubmit={(e) => e.preventDefault()}>
        {!fixedCity && (
          <label>
            {t("word.city")}
            <select value={city} onChange={(e) => setCity((e.currentTarget as HTMLSelectElement).value)}>
              {regionCities.map((c) => (
                <option key={c.code} value={c.code}>
                  {cityName(c.code)}
                </option>
              ))}
            </select>
          </label>
        )}
        <label>
          {t("word.class")}
          <select value={cls} onChange={(e) => setCls((e.currentTarget as HTMLSelectElement).value)}>
            <option value="">{t("word.all_classes")}</option>
            {deviceClasses.map((c) => (
              <option key={c} value={c}>
                {tWord("class", c)}
              </option>
            ))}
          </select>
        </label>
        <button type="button" class="primary" onClick={() => window.print()} disabled={shown.length === 0}>
          {t("labels.print", { n: shown.length })}
        </button>
        <p class="hint">{t("labels.hint")}</p>
      </form>
      {failure && (
        <Notice kind="error">
          <ProblemText problem={failure} />
        </Notice>
      )}
      {!devices && !failure && <Loading />}
      {devices && shown.length === 0 && <p class="quiet-note">{t("labels.none")}</p>}
      <div class="label-sheet" data-testid="label-sheet">
        {shown.map((d) => (
          <div class="label" key={d.id} data-device={d.id}>
            <QrCode text={d.id} label={t("labels.qr_of", { id: d.id })} />
            <div class="label-text">
              <p class={`label-id mono${d.id.length > longId ? " label-id-long" : ""}`}>{d.id}</p>
              <p class="label-model">{d.model ?? ""}</p>
              <p class="label-meta">
                {d.class ? tWord("class", d.class) : ""} · {cityName(d.city || city)}
              </p>
            </div>
          </div>
        ))}
      </div>
    </div>
  );
}
