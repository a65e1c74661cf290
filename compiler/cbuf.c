/* A growable string buffer for the back end, and the two escapers that make
 * any text from the model safe inside generated C: in a string literal and
 * in a comment. Nothing in the back end formats into a fixed-size array. */
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "cg.h"

static void reserve(cg_buf *b, size_t extra) {
    size_t need = b->length + extra + 1;
    if (need <= b->capacity) return;
    size_t capacity = b->capacity ? b->capacity : 64;
    while (capacity < need) capacity *= 2; /* doubling: appends are amortised O(1) */
    b->data = tsc_xrealloc(b->data, capacity);
    b->capacity = capacity;
}

enum { SINK_CHUNK = 1 << 20 };

void cg_buf_flush(cg_buf *b) {
    if (!b->sink || b->length == 0) return;
    fwrite(b->data, 1, b->length, b->sink); /* errors stay in the stream: ferror at close */
    cg_buf_clear(b);
}

void cg_buf_putn(cg_buf *b, const char *s, size_t n) {
    reserve(b, n);
    memcpy(b->data + b->length, s, n);
    b->length += n;
    b->data[b->length] = '\0';
    if (b->sink && b->length >= SINK_CHUNK) cg_buf_flush(b);
}

void cg_buf_puts(cg_buf *b, const char *s) {
    cg_buf_putn(b, s, strlen(s));
}

void cg_buf_putc(cg_buf *b, char c) {
    cg_buf_putn(b, &c, 1);
}

/* Digits of v in base 10 or 16, most significant first. */
static void put_unsigned(cg_buf *b, unsigned long long v, unsigned base) {
    char digits[24];
    int n = 0;
    do {
        digits[n++] = "0123456789abcdef"[v % base];
        v /= base;
    } while (v);
    reserve(b, (size_t)n);
    while (n) b->data[b->length++] = digits[--n];
    b->data[b->length] = '\0';
}

/* The conversions the back end uses: %s, %c, %d/%i/%u/%x with the l, ll and z
 * modifiers, and %%. Anything else makes the whole format go to vsnprintf. */
static bool simple_format(const char *fmt) {
    for (const char *p = fmt; (p = strchr(p, '%')) != NULL; p++) {
        p++;
        if (*p == 'z') p++;
        else while (*p == 'l') p++;
        if (!strchr("sdiuxc%", *p) || !*p) return false;
    }
    return true;
}

/* Formats without libc's printf where it can: a program that links
 * libquadmath (OpenBLAS does) has printf handlers registered, which sends
 * every glibc printf down its slow positional path; the generated file of a
 * 100,000-layer model is ~10^7 conversions. */
void cg_buf_vprintf(cg_buf *b, const char *fmt, va_list args) {
    if (!simple_format(fmt)) {
        reserve(b, 256);
        va_list again;
        va_copy(again, args);
        size_t room = b->capacity - b->length;
        int n = vsnprintf(b->data + b->length, room, fmt, args);
        TSC_ASSERT(n >= 0);
        if ((size_t)n >= room) {
            reserve(b, (size_t)n);
            vsnprintf(b->data + b->length, (size_t)n + 1, fmt, again);
        }
        va_end(again);
        b->length += (size_t)n;
        if (b->sink && b->length >= SINK_CHUNK) cg_buf_flush(b);
        return;
    }
    const char *p = fmt;
    while (*p) {
        const char *pct = strchr(p, '%');
        if (!pct) {
            cg_buf_puts(b, p);
            return;
        }
        cg_buf_putn(b, p, (size_t)(pct - p));
        p = pct + 1;
        int longs = 0;
        bool size = false;
        if (*p == 'z') {
            size = true;
            p++;
        }
        while (*p == 'l') {
            longs++;
            p++;
        }
        char conversion = *p++;
        switch (conversion) {
        case 's': cg_buf_puts(b, va_arg(args, const char *)); break;
        case 'c': cg_buf_putc(b, (char)va_arg(args, int)); break;
        case '%': cg_buf_putc(b, '%'); break;
        case 'd':
        case 'i': {
            long long v = size ? (long long)va_arg(args, ptrdiff_t) : longs >= 2 ? va_arg(args, long long)
                                                                       : longs ? va_arg(args, long) : va_arg(args, int);
            if (v < 0) cg_buf_putc(b, '-');
            put_unsigned(b, v < 0 ? 0ull - (unsigned long long)v : (unsigned long long)v, 10);
            break;
        }
        default: { /* u, x */
            unsigned long long v = size ? va_arg(args, size_t) : longs >= 2 ? va_arg(args, unsigned long long)
                                                               : longs ? va_arg(args, unsigned long) : va_arg(args, unsigned);
            put_unsigned(b, v, conversion == 'x' ? 16 : 10);
            break;
        }
        }
    }
}

void cg_buf_printf(cg_buf *b, const char *fmt, ...) {
    va_list args;
    va_start(args, fmt);
    cg_buf_vprintf(b, fmt, args);
    va_end(args);
}

const char *cg_buf_str(const cg_buf *b) {
    return b->data ? b->data : "";
}

void cg_buf_clear(cg_buf *b) {
    b->length = 0;
    if (b->data) b->data[0] = '\0';
}

void cg_buf_free(cg_buf *b) {
    free(b->data);
    b->data = NULL;
    b->length = b->capacity = 0;
}

char *cg_buf_take(cg_buf *b) {
    char *s = b->data ? b->data : tsc_xstrdup("");
    b->data = NULL;
    b->length = b->capacity = 0;
    return s;
}

char *cg_strf(const char *fmt, ...) {
    cg_buf b = {0};
    va_list args;
    va_start(args, fmt);
    cg_buf_vprintf(&b, fmt, args);
    va_end(args);
    return cg_buf_take(&b);
}

/* Inside "...": the quote, the backslash and '?' (a trigraph such as ??/ is a
 * backslash under -std=c11) are escaped, and every byte outside printable
 * ASCII becomes a three-digit octal escape, which cannot swallow the
 * character after it the way \x can. */
void cg_buf_c_string(cg_buf *b, const char *s) {
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\' || *p == '?') {
            cg_buf_putc(b, '\\');
            cg_buf_putc(b, (char)*p);
        } else if (*p < 0x20 || *p >= 0x7f) {
            cg_buf_printf(b, "\\%03o", *p);
        } else {
            cg_buf_putc(b, (char)*p);
        }
    }
}

/* Inside a comment: no byte may end it ("*" followed by "/"), open a nested
 * one (-Wcomment), splice lines (a backslash, or the trigraph ??/, before a
 * newline) or break the line. Control bytes, non-ASCII bytes and backslashes
 * become '.', a '/' after '*' and a '*' after '/' get a space between, and
 * no two '?' follow each other. */
void cg_buf_comment(cg_buf *b, const char *s) {
    char last = '\0';
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        char c = (*p < 0x20 || *p >= 0x7f || *p == '\\') ? '.' : (char)*p;
        if ((last == '*' && c == '/') || (last == '/' && c == '*')) cg_buf_putc(b, ' ');
        if (last == '?' && c == '?') c = '.';
        cg_buf_putc(b, c);
        last = c;
    }
    /* A comment that ends in '*' or '/' would meet the closing delimiter. */
    if (last == '*' || last == '/') cg_buf_putc(b, ' ');
}
