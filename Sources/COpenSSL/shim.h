// OpenSSL's libcrypto, as installed by Debian's libssl-dev: only what HMAC-SHA256 needs.
#ifndef ACOPENSSL_SHIM_H
#define ACOPENSSL_SHIM_H

#include <openssl/evp.h>
#include <openssl/hmac.h>

#endif
