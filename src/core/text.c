#include "core/text.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>

void text_init(text *t, char *buf, size_t size)
{
    t->buf = buf && size ? buf : t->none;
    t->size = buf && size ? size : sizeof t->none;
    t->len = 0;
    t->buf[0] = '\0';
}

void text_add(text *t, const char *fmt, ...)
{
    size_t at = t->len < t->size ? t->len : t->size - 1;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(t->buf + at, t->size - at, fmt, ap);
    va_end(ap);
    if (n > 0)
        t->len += (size_t)n;
}

void text_json_number(text *t, const char *key, double v)
{
    if (isfinite(v))
        text_add(t, ", \"%s\": %.10g", key, v);
    else
        text_add(t, ", \"%s\": null", key);
}

void text_json_string(text *t, const char *s)
{
    text_add(t, "\"");
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            text_add(t, "\\%c", c);
        else if (c < 0x20)
            text_add(t, "\\u%04x", c);
        else
            text_add(t, "%c", c);
    }
    text_add(t, "\"");
}

const char *text_nats(double v, char *buf, size_t size)
{
    snprintf(buf, size, fabs(v) < 1e6 ? "%.4f" : "%.6g", v);
    return buf;
}
