/* eqm device SDK, plain C interface for firmware teams.
 *
 * A thin wrapper over the C++ library (eqm/device/device.hpp): the same birth/Last Will with
 * bd_seq, QoS 0 telemetry, durable event outbox resent until the gateway's ack, and command
 * callback. Every function is safe to call with a NULL handle (it then fails or does nothing).
 * Link with eqm_device_sdk (a C++ library: link with a C++ linker or add libstdc++). */
#ifndef EQM_DEVICE_SDK_H
#define EQM_DEVICE_SDK_H

#ifdef __cplusplus
extern "C" {
#endif

/** An open device connection (opaque). */
typedef struct eqm_device eqm_device;

/** How to open a device. Strings are copied; NULL means "default" where one exists. */
typedef struct eqm_device_config {
    const char* device_id;    /**< required, ^[A-Za-z0-9_-]{1,64}$ */
    const char* device_class; /**< required: "body_camera", "drone", "analyzer" or "dock" */
    const char* model;        /**< default "generic" */
    const char* fw;           /**< default "0.0.0" */
    const char* broker_uri;   /**< required, e.g. "tcp://127.0.0.1:1883" */
    const char* username;     /**< NULL: anonymous */
    const char* password;     /**< NULL: none */
    const char* state_dir;    /**< where the bd_seq state file and the outbox live; default "." */
} eqm_device_config;

/** Called with a command's JSON text ({cmd_id, ts, type, ...}) on the SDK's MQTT thread. */
typedef void (*eqm_command_cb)(const char* command_json, void* user);

/** Return codes. */
enum {
    EQM_OK = 0,
    EQM_ERR_ARG = -1,     /**< bad argument (NULL, not a JSON object, bad id, ...) */
    EQM_ERR_STORAGE = -2, /**< the outbox or state file could not be written */
    EQM_ERR_INTERNAL = -3
};

/** Opens a device and starts connecting in the background. NULL on failure; when `error` is
 *  not NULL it receives a static-lifetime-until-next-call message. */
eqm_device* eqm_device_open(const eqm_device_config* config, const char** error);

/** Publishes the offline state, disconnects and frees the handle. Pending events stay on disk. */
void eqm_device_close(eqm_device* device);

/** Publishes one telemetry object (JSON text). `ts` and `seq` are added when missing. */
int eqm_device_publish_telemetry(eqm_device* device, const char* telemetry_json);

/** Stores an event (JSON object text with at least "type") durably and publishes it.
 *  `event_id` and `ts` are added when missing. On success, when `event_id_out` is not NULL,
 *  copies the event id (NUL-terminated, truncated to `event_id_cap`). */
int eqm_device_emit_event(eqm_device* device, const char* event_json, char* event_id_out,
                          unsigned long event_id_cap);

/** Sets the command callback (NULL to remove it). */
void eqm_device_set_command_handler(eqm_device* device, eqm_command_cb callback, void* user);

/** 1 while connected to the broker, else 0. */
int eqm_device_connected(const eqm_device* device);

/** Events still waiting for the gateway's ack. */
unsigned long eqm_device_pending_events(const eqm_device* device);

#ifdef __cplusplus
}
#endif

#endif /* EQM_DEVICE_SDK_H */
