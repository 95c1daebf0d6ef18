// The C interface: translates C strings and codes to the C++ session and back. No exception
// crosses into C: every entry point catches everything.
#include <cstring>
#include <memory>
#include <string>

#include "eqm/device/device.hpp"
#include "eqm/device_sdk.h"

struct eqm_device {
    std::unique_ptr<eqm::device::device_session> session;
};

namespace {

thread_local std::string last_error;

std::string or_default(const char* s, const char* fallback) {
    return s ? s : fallback;
}

int code_of(const eqm::error& e) {
    return e.code == eqm::errc::unavailable ? EQM_ERR_STORAGE : EQM_ERR_ARG;
}

}  // namespace

extern "C" {

eqm_device* eqm_device_open(const eqm_device_config* config, const char** error) {
    try {
        last_error.clear();
        if (!config || !config->device_id || !config->device_class || !config->broker_uri) {
            last_error = "device_id, device_class and broker_uri are required";
        } else if (auto cls = eqm::parse_device_class(config->device_class); !cls) {
            last_error = std::string("unknown device_class ") + config->device_class;
        } else {
            eqm::device::device_options o;
            o.id = config->device_id;
            o.cls = *cls;
            o.model = or_default(config->model, "generic");
            o.fw = or_default(config->fw, "0.0.0");
            o.broker_uri = config->broker_uri;
            o.username = or_default(config->username, "");
            o.password = or_default(config->password, "");
            o.state_dir = or_default(config->state_dir, ".");
            auto s = eqm::device::device_session::open(std::move(o));
            if (s) return new eqm_device{std::move(*s)};
            last_error = s.error().describe();
        }
    } catch (const std::exception& e) {
        last_error = e.what();
    } catch (...) {
        last_error = "unknown error";
    }
    if (error) *error = last_error.c_str();
    return nullptr;
}

void eqm_device_close(eqm_device* device) {
    try {
        delete device;
    } catch (...) {
    }
}

int eqm_device_publish_telemetry(eqm_device* device, const char* telemetry_json) {
    if (!device || !telemetry_json) return EQM_ERR_ARG;
    try {
        auto j = nlohmann::json::parse(telemetry_json, nullptr, false);
        if (j.is_discarded()) return EQM_ERR_ARG;
        auto r = device->session->publish_telemetry(std::move(j));
        return r ? EQM_OK : code_of(r.error());
    } catch (...) {
        return EQM_ERR_INTERNAL;
    }
}

int eqm_device_emit_event(eqm_device* device, const char* event_json, char* event_id_out,
                          unsigned long event_id_cap) {
    if (!device || !event_json) return EQM_ERR_ARG;
    try {
        auto j = nlohmann::json::parse(event_json, nullptr, false);
        if (j.is_discarded() || !j.is_object() || !j.contains("type")) return EQM_ERR_ARG;
        auto r = device->session->emit_event(std::move(j));
        if (!r) return code_of(r.error());
        if (event_id_out && event_id_cap > 0) {
            const std::size_t n = std::min<std::size_t>(r->size(), event_id_cap - 1);
            std::memcpy(event_id_out, r->data(), n);
            event_id_out[n] = '\0';
        }
        return EQM_OK;
    } catch (...) {
        return EQM_ERR_INTERNAL;
    }
}

void eqm_device_set_command_handler(eqm_device* device, eqm_command_cb callback, void* user) {
    if (!device) return;
    try {
        if (!callback) {
            device->session->set_command_handler({});
            return;
        }
        device->session->set_command_handler([callback, user](const nlohmann::json& cmd) {
            const std::string text = cmd.dump();
            callback(text.c_str(), user);
        });
    } catch (...) {
    }
}

int eqm_device_connected(const eqm_device* device) {
    return device && device->session->connected() ? 1 : 0;
}

unsigned long eqm_device_pending_events(const eqm_device* device) {
    if (!device) return 0;
    try {
        return device->session->pending_events();
    } catch (...) {
        return 0;
    }
}

}  // extern "C"
