/* Extended-precision helpers for INCRBYFLOAT / HINCRBYFLOAT.
 * Redis does this arithmetic in `long double` and prints with "%.17Lf"; Rust has no such type,
 * so the few lines that need it live here. */
#include <stdlib.h>
#include <string.h>
#include <stdio.h>
#include <math.h>
#include <ctype.h>

#define MAX_LD_CHARS 5120

/* Redis's string2ld: the whole string must parse, no spaces, not NaN. */
static int parse_ld(const unsigned char *s, size_t len, long double *out) {
    char buf[MAX_LD_CHARS + 1];
    char *end;
    if (len == 0 || len > MAX_LD_CHARS) return 0;
    memcpy(buf, s, len);
    buf[len] = '\0';
    if (isspace((unsigned char)buf[0])) return 0;
    long double v = strtold(buf, &end);
    if ((size_t)(end - buf) != len || isnan(v)) return 0;
    *out = v;
    return 1;
}

/* Redis's ld2string with LD_STR_HUMAN. */
static size_t format_ld(long double v, unsigned char *out, size_t cap) {
    char buf[MAX_LD_CHARS + 32];
    int l = snprintf(buf, sizeof(buf), "%.17Lf", v);
    if (l < 0 || (size_t)l >= sizeof(buf)) return 0;
    if (strchr(buf, '.') != NULL) {
        char *p = buf + l - 1;
        while (*p == '0') { p--; l--; }
        if (*p == '.') l--;
    }
    if (l == 2 && buf[0] == '-' && buf[1] == '0') { buf[0] = '0'; l = 1; }
    if ((size_t)l > cap) return 0;
    memcpy(out, buf, (size_t)l);
    return (size_t)l;
}

/* 0 ok, 1 current value not a float, 2 increment not a float, 3 NaN or infinity. */
int ochre_ld_add(const unsigned char *cur, size_t curlen, const unsigned char *incr, size_t incrlen,
                 unsigned char *out, size_t *outlen) {
    long double a = 0, b = 0;
    if (cur != NULL && !parse_ld(cur, curlen, &a)) return 1;
    if (!parse_ld(incr, incrlen, &b)) return 2;
    long double r = a + b;
    if (isnan(r) || isinf(r)) return 3;
    size_t n = format_ld(r, out, *outlen);
    if (n == 0) return 3;
    *outlen = n;
    return 0;
}
