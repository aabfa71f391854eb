/* Text built into a caller's buffer as snprintf does: what fits is
 * written and terminated, the length counts all of it (a longer buffer's
 * size), for the library's reports in words and in JSON. */
#ifndef NF_TEXT_H
#define NF_TEXT_H

#include <stddef.h>

typedef struct text {
    char *buf;
    size_t size, len;
    char none[1]; /* the buffer of a caller that gave none */
} text;

void text_init(text *t, char *buf, size_t size);
void text_add(text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* JSON: `, "key": v`, null where v is not finite. */
void text_json_number(text *t, const char *key, double v);
/* A JSON string, quoted, its quotes, backslashes and control characters
 * escaped. */
void text_json_string(text *t, const char *s);
/* A figure in nats: 4 decimals, or 6 significant digits from a million on
 * (never 77 digits). */
const char *text_nats(double v, char *buf, size_t size);

#endif
