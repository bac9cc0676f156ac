#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

// OpenSSL spells these as macros over SSL_CTX_ctrl/SSL_ctrl, which Swift does not import.

/// Both ends are score-cluster with OpenSSL 3: TLS 1.3 only, which has no renegotiation.
static inline long cssl_ctx_set_min_tls13(SSL_CTX *ctx) {
    return SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION);
}

static int cssl_no_password(char *buffer, int size, int rwflag, void *data) {
    (void)buffer; (void)size; (void)rwflag; (void)data;
    return 0;
}

/// Partial writes (a frame's buffers go out record by record) from buffers that may move between
/// retries; and an abrupt close (a killed peer) reads as end of stream, as on a plain socket:
/// frames carry their own lengths, so truncation cannot pass unnoticed.
/// Reading ahead into a larger buffer takes many records per read(2) instead of two calls per
/// 16 KB record: batches are megabytes.
static inline void cssl_ctx_set_stream_modes(SSL_CTX *ctx) {
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    SSL_CTX_set_options(ctx, SSL_OP_IGNORE_UNEXPECTED_EOF | SSL_OP_NO_RENEGOTIATION);
    // An encrypted key fails with an error instead of asking for a passphrase on the terminal.
    SSL_CTX_set_default_passwd_cb(ctx, cssl_no_password);
    // Sessions are never resumed: no tickets.
    SSL_CTX_set_num_tickets(ctx, 0);
    SSL_CTX_set_read_ahead(ctx, 1);
    SSL_CTX_set_default_read_buffer_len(ctx, 256 * 1024);
}

/// A trusted intermediate CA (or the coordinator's own certificate) is enough, without the root.
static inline void cssl_ctx_allow_partial_chain(SSL_CTX *ctx) {
    X509_VERIFY_PARAM_set_flags(SSL_CTX_get0_param(ctx), X509_V_FLAG_PARTIAL_CHAIN);
}

static inline long cssl_set_server_name(SSL *ssl, const char *name) {
    return SSL_set_tlsext_host_name(ssl, name);
}

/// Starts (or restarts) an HMAC-SHA256 computation under `key` on a context of the "HMAC" EVP_MAC.
/// The digest is chosen through an OSSL_PARAM array built from a macro name and a mutable char
/// buffer, which Swift cannot spell directly. A NULL key would mean "keep the key set before"
/// (there is none yet): an empty key is passed as a zero-length one.
static inline int cssl_hmac_sha256_init(EVP_MAC_CTX *ctx, const unsigned char *key, size_t key_length) {
    static const unsigned char no_key = 0;
    char digest[] = "SHA256";
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
        OSSL_PARAM_construct_end(),
    };
    return EVP_MAC_init(ctx, key != NULL ? key : &no_key, key_length, params);
}
