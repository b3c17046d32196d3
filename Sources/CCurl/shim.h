// libcurl, as installed by Debian's libcurl4-openssl-dev.
//
// curl_easy_setopt and curl_easy_getinfo are variadic, which Swift cannot call; each option the webhook client
// uses is wrapped here as a typed function with an `accurl_` prefix. Nothing else of libcurl is exposed.
#ifndef ACCURL_SHIM_H
#define ACCURL_SHIM_H

#include <curl/curl.h>
#include <stddef.h>

static inline CURLcode accurl_set_url(CURL *handle, const char *url) {
    return curl_easy_setopt(handle, CURLOPT_URL, url);
}

// A POST whose body libcurl copies, so that the caller's buffer need not outlive the call.
static inline CURLcode accurl_set_post_body(CURL *handle, const char *body, long length) {
    CURLcode code = curl_easy_setopt(handle, CURLOPT_POSTFIELDSIZE, length);
    if (code != CURLE_OK) {
        return code;
    }
    return curl_easy_setopt(handle, CURLOPT_COPYPOSTFIELDS, body);
}

static inline CURLcode accurl_set_headers(CURL *handle, struct curl_slist *headers) {
    return curl_easy_setopt(handle, CURLOPT_HTTPHEADER, headers);
}

static inline CURLcode accurl_set_timeouts(CURL *handle, long connect_ms, long total_ms) {
    CURLcode code = curl_easy_setopt(handle, CURLOPT_CONNECTTIMEOUT_MS, connect_ms);
    if (code != CURLE_OK) {
        return code;
    }
    return curl_easy_setopt(handle, CURLOPT_TIMEOUT_MS, total_ms);
}

// Threads must not get SIGALRM from name resolution timeouts.
static inline CURLcode accurl_set_no_signal(CURL *handle) {
    return curl_easy_setopt(handle, CURLOPT_NOSIGNAL, 1L);
}

// Only http and https, also when following nothing: webhooks never redirect.
static inline CURLcode accurl_set_http_only(CURL *handle) {
    CURLcode code = curl_easy_setopt(handle, CURLOPT_FOLLOWLOCATION, 0L);
    if (code != CURLE_OK) {
        return code;
    }
    return curl_easy_setopt(handle, CURLOPT_PROTOCOLS_STR, "http,https");
}

static size_t accurl_discard(char *data, size_t size, size_t count, void *context) {
    (void)data;
    (void)context;
    return size * count;
}

// Response bodies are not needed: the status says it all.
static inline CURLcode accurl_discard_response_body(CURL *handle) {
    return curl_easy_setopt(handle, CURLOPT_WRITEFUNCTION, accurl_discard);
}

static inline CURLcode accurl_set_error_buffer(CURL *handle, char *buffer) {
    return curl_easy_setopt(handle, CURLOPT_ERRORBUFFER, buffer);
}

// Seconds the response's Retry-After asked to wait (a number or an HTTP date), or -1 when it had none.
static inline long long accurl_retry_after(CURL *handle) {
    curl_off_t seconds = 0;
    if (curl_easy_getinfo(handle, CURLINFO_RETRY_AFTER, &seconds) != CURLE_OK || seconds <= 0) {
        return -1;
    }
    return (long long)seconds;
}

static inline long accurl_response_code(CURL *handle) {
    long code = 0;
    if (curl_easy_getinfo(handle, CURLINFO_RESPONSE_CODE, &code) != CURLE_OK) {
        return 0;
    }
    return code;
}

#endif
