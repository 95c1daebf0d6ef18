/* The C interface, compiled as C: open a device whose broker is unreachable, store events,
 * and find them still pending after a reopen (the outbox is on disk). Exit code 0 = pass. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eqm/device_sdk.h"

static int failures = 0;
#define EXPECT(cond)                                                            \
    do {                                                                        \
        if (!(cond)) {                                                          \
            fprintf(stderr, "%s:%d: expected %s\n", __FILE__, __LINE__, #cond); \
            ++failures;                                                         \
        }                                                                       \
    } while (0)

int main(int argc, char** argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: %s STATE_DIR\n", argv[0]);
        return 2;
    }
    const char* error = NULL;
    eqm_device_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.device_id = "c-cam-1";
    cfg.device_class = "body_camera";
    cfg.model = "BWC-C";
    cfg.fw = "1.0.0";
    cfg.broker_uri = "tcp://127.0.0.1:1"; /* nothing listens there: stays offline */
    cfg.state_dir = argv[1];

    EXPECT(eqm_device_open(NULL, &error) == NULL);
    EXPECT(error != NULL && strlen(error) > 0);
    cfg.device_class = "toaster";
    EXPECT(eqm_device_open(&cfg, &error) == NULL);
    cfg.device_class = "body_camera";

    eqm_device* dev = eqm_device_open(&cfg, &error);
    EXPECT(dev != NULL);
    if (!dev) {
        fprintf(stderr, "open failed: %s\n", error ? error : "?");
        return 1;
    }
    char id[65];
    EXPECT(eqm_device_emit_event(dev, "{\"type\":\"recording_started\"}", id, sizeof id) == EQM_OK);
    EXPECT(strncmp(id, "c-cam-1-", 8) == 0);
    EXPECT(eqm_device_emit_event(dev, "not json", NULL, 0) == EQM_ERR_ARG);
    EXPECT(eqm_device_emit_event(dev, "{\"no_type\":1}", NULL, 0) == EQM_ERR_ARG);
    EXPECT(eqm_device_publish_telemetry(dev, "{\"battery_pct\":50}") == EQM_OK);
    EXPECT(eqm_device_publish_telemetry(dev, "[1,2]") == EQM_ERR_ARG);
    EXPECT(eqm_device_connected(dev) == 0);
    EXPECT(eqm_device_pending_events(dev) == 1);
    eqm_device_set_command_handler(dev, NULL, NULL);
    eqm_device_close(dev);

    dev = eqm_device_open(&cfg, &error);
    EXPECT(dev != NULL);
    EXPECT(eqm_device_pending_events(dev) == 1);
    char id2[65];
    EXPECT(eqm_device_emit_event(dev, "{\"type\":\"recording_started\"}", id2, sizeof id2) ==
           EQM_OK);
    EXPECT(strcmp(id, id2) != 0); /* a new run never reuses an event id */
    EXPECT(eqm_device_pending_events(dev) == 2);
    eqm_device_close(dev);
    eqm_device_close(NULL);

    if (failures == 0) printf("c_api_test: all passed\n");
    return failures == 0 ? 0 : 1;
}
