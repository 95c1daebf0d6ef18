// The server side of HTTPS and WSS: one OpenSSL context per server, made at start() from the
// certificate chain and key files, with a setup that current browsers, curl and the eqm CLI all
// speak and that refuses what is known to be weak.
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <filesystem>
#include <fstream>

#include "asio_internal.hpp"

namespace eqm::http::detail {
namespace {

// TLS 1.2 suites: forward secrecy (ECDHE) and AEAD only, as in Mozilla's "intermediate"
// profile. TLS 1.3 suites are OpenSSL's defaults, all of which are fine.
constexpr const char* tls12_ciphers =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";

/// Why a PEM file cannot be used, before OpenSSL's terser words: missing, unreadable, empty.
std::optional<std::string> unreadable(const std::string& path) {
    if (path.empty()) return "is not set";
    std::error_code ec;
    if (!std::filesystem::is_regular_file(path, ec))
        return path + " does not exist or is not a file";
    std::ifstream in(path);
    if (!in) return "cannot read " + path + " (permissions?)";
    if (std::filesystem::file_size(path, ec) == 0) return path + " is empty";
    return std::nullopt;
}

}  // namespace

eqm::result<std::unique_ptr<ssl::context>> make_tls_context(const tls_files& files) {
    if (auto why = unreadable(files.cert_file))
        return eqm::fail(eqm::errc::bad_field, "tls_cert_file", "the certificate file " + *why);
    if (auto why = unreadable(files.key_file))
        return eqm::fail(eqm::errc::bad_field, "tls_key_file", "the key file " + *why);

    std::unique_ptr<ssl::context> ctx;
    try {
        ctx = std::make_unique<ssl::context>(ssl::context::tls_server);
    } catch (const std::exception& e) {
        return eqm::fail(eqm::errc::internal, "tls_cert_file",
                         std::string{"cannot make a TLS context: "} + e.what());
    }
    ctx->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                     ssl::context::no_sslv3 | ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1 |
                     ssl::context::single_dh_use | ssl::context::no_compression);
    SSL_CTX* native = ctx->native_handle();
    SSL_CTX_set_min_proto_version(native, TLS1_2_VERSION);
    SSL_CTX_set_options(native, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
    if (SSL_CTX_set_cipher_list(native, tls12_ciphers) != 1)
        return eqm::fail(eqm::errc::internal, "tls_cert_file",
                         "this OpenSSL has none of the TLS 1.2 ciphers eqm uses");

    boost::system::error_code ec;
    ctx->use_certificate_chain_file(files.cert_file, ec);
    if (ec)
        return eqm::fail(eqm::errc::bad_field, "tls_cert_file",
                         files.cert_file + " is not a PEM certificate chain: " + ec.message());
    ctx->use_private_key_file(files.key_file, ssl::context::pem, ec);
    // OpenSSL checks the key against the certificate as it loads it.
    const bool mismatch =
        ec && ec.category() == asio::error::get_ssl_category() &&
        ERR_GET_REASON(static_cast<unsigned long>(ec.value())) == X509_R_KEY_VALUES_MISMATCH;
    if (ec && !mismatch)
        return eqm::fail(eqm::errc::bad_field, "tls_key_file",
                         files.key_file + " is not a PEM private key: " + ec.message());
    if (mismatch || SSL_CTX_check_private_key(native) != 1)
        return eqm::fail(
            eqm::errc::bad_field, "tls_key_file",
            files.key_file + " is not the key of the certificate in " + files.cert_file);
    return ctx;
}

}  // namespace eqm::http::detail
