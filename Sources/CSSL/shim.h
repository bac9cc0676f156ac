#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

// OpenSSL spells these as macros over SSL_CTX_ctrl/SSL_ctrl, which Swift does not import.

static inline long cssl_ctx_set_min_tls12(SSL_CTX *ctx) {
    return SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
}

/// Partial writes (a frame's buffers go out record by record) from buffers that may move between
/// retries; and an abrupt close (a killed peer) reads as end of stream, as on a plain socket:
/// frames carry their own lengths, so truncation cannot pass unnoticed.
/// Reading ahead into a larger buffer takes many records per read(2) instead of two calls per
/// 16 KB record: batches are megabytes.
static inline void cssl_ctx_set_stream_modes(SSL_CTX *ctx) {
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    SSL_CTX_set_options(ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
    SSL_CTX_set_read_ahead(ctx, 1);
    SSL_CTX_set_default_read_buffer_len(ctx, 256 * 1024);
}

static inline long cssl_set_server_name(SSL *ssl, const char *name) {
    return SSL_set_tlsext_host_name(ssl, name);
}
