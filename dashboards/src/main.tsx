// Entry: find out who serves the page (eqm-server or a gateway), then draw the app.
import { render } from "preact";
import { App } from "./app";
import { detectHost } from "./host";
import { lang } from "./i18n";
import "./styles.css";

document.documentElement.lang = lang.value;
render(<App />, document.getElementById("app")!);
void detectHost();
