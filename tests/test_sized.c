/* The options structs that carry their size (core/sized.h, nflow.h's
 * conventions): a program built against an older header passes a smaller
 * struct, whose missing fields the library defaults and past whose end it
 * never writes; a struct from a newer header, or one not set by its
 * _default call, is refused with a message, not misread. */
#include <stddef.h>
#include <string.h>

#include "core/sized.h"
#include "harness.h"
#include "nflow.h"

static int said(const char *part) { return strstr(nf_last_error(), part) != NULL; }

/* Written back no further than the caller's size; a larger caller's tail zeroed. */
static void test_write_within_the_callers_size(void)
{
    unsigned char buf[sizeof(nf_train_options) + 32];
    size_t small = offsetof(nf_train_options, dropout); /* a header without dropout */
    memset(buf, 0xA5, sizeof buf);
    nf_train_options_init((nf_train_options *)(void *)buf, small);
    size_t got;
    memcpy(&got, buf, sizeof got);
    CHECK(got == small, "struct_size %zu, expected %zu", got, small);
    int untouched = 1;
    for (size_t i = small; i < sizeof buf; i++)
        untouched &= buf[i] == 0xA5;
    CHECK(untouched, "bytes past the caller's struct were written");
    nf_train_options o;
    memcpy(&o, buf, small);
    CHECK(o.batch == 256 && o.lr == 1e-3 && o.checkpoint_seconds == 300, "the defaults that fit were not written");
    /* a larger caller (a newer header): what the library knows, then zeros */
    memset(buf, 0xA5, sizeof buf);
    nf_train_options_init((nf_train_options *)(void *)buf, sizeof buf);
    int zeros = 1;
    for (size_t i = sizeof(nf_train_options); i < sizeof buf; i++)
        zeros &= buf[i] == 0;
    CHECK(zeros, "a newer caller's fields were left as garbage");
    nf_train_options_init(NULL, sizeof o); /* no crash */
}

/* Read: the caller's fields over the defaults, the missing ones kept. */
static void test_read_defaults_the_missing_fields(void)
{
    nf_train_options caller, full;
    nf_train_options_default(&caller);
    caller.batch = 77;
    caller.dropout = 0.9;
    caller.struct_size = offsetof(nf_train_options, dropout); /* as if built without dropout */
    nf_train_options_default(&full);
    full.dropout = 0.25; /* a default the old caller cannot have set */
    CHECK(sized_read(&full, sizeof full, offsetof(nf_train_options, dropout), &caller, "nf_train_options") == NF_OK);
    CHECK(full.batch == 77 && full.dropout == 0.25 && full.struct_size == sizeof full,
          "batch %d dropout %g size %zu", full.batch, full.dropout, full.struct_size);
}

static void test_calls_refuse_unset_or_newer_structs(void)
{
    nf_config cfg;
    nf_config_default(&cfg, NF_MODEL_REALNVP, 2);
    nf_flow *f = NULL;
    cfg.struct_size = 0;
    CHECK(nf_flow_create(&f, &cfg) == NF_ERR_INVALID && !f && said("nf_config_default"), "%s", nf_last_error());
    cfg.struct_size = sizeof cfg + 8;
    CHECK(nf_flow_create(&f, &cfg) == NF_ERR_INVALID && said("newer nflow.h"), "%s", nf_last_error());
    CHECK(nf_flow_create(&f, NULL) == NF_ERR_INVALID);
    cfg.struct_size = sizeof cfg;
    cfg.layers = 2;
    cfg.hidden = 4;
    CHECK(nf_flow_create(&f, &cfg) == NF_OK, "%s", nf_last_error());
    float x[2 * 8] = {0.1f, 0.2f, -0.3f, 0.4f, 0.5f, -0.6f, 0.7f, 0.8f, -0.9f, 1.0f, 1.1f, -1.2f, 1.3f, 1.4f, 0, 1};
    nf_train_options opt;
    nf_train_options_default(&opt);
    opt.batch = 4;
    opt.max_epochs = 1;
    nf_train_result r;
    opt.struct_size = 3;
    CHECK(nf_flow_train(f, x, 8, NULL, 0, &opt, &r) == NF_ERR_INVALID && said("nf_train_options_default"),
          "%s", nf_last_error());
    double loss;
    CHECK(nf_flow_train_step(f, x, 4, &opt, &loss) == NF_ERR_INVALID);
    CHECK(nf_train_options_read("/nonexistent.nfc", &opt) == NF_ERR_INVALID && said("nf_train_options"));
    opt.struct_size = sizeof opt;
    CHECK(nf_flow_train(f, x, 8, NULL, 0, &opt, &r) == NF_OK, "%s", nf_last_error());
    /* nf_defaults_for_data leaves an unset struct alone */
    nf_config c2;
    memset(&c2, 0, sizeof c2);
    c2.hidden = 7;
    nf_defaults_for_data(100000, 10, &c2, NULL);
    CHECK(c2.hidden == 7, "an unset config was written: hidden %d", c2.hidden);
    /* the other sized structs */
    nf_kl_options kl;
    nf_kl_options_default(&kl);
    kl.struct_size = sizeof kl + 16;
    nf_flow *s = NULL;
    nf_config sc;
    nf_config_default(&sc, NF_MODEL_IAF, 2);
    sc.layers = 1;
    sc.hidden = 4;
    CHECK(nf_flow_create(&s, &sc) == NF_OK);
    CHECK(nf_flow_distill(s, f, &kl, NULL) == NF_ERR_INVALID && said("nf_kl_options"), "%s", nf_last_error());
    nf_flow *g = NULL;
    nf_made_options m;
    nf_made_options_default(&m);
    m.struct_size = 1;
    CHECK(nf_flow_new(&g, 2, NF_BASE_NORMAL) == NF_OK);
    CHECK(nf_flow_add_maf(g, &m) == NF_ERR_INVALID && said("nf_made_options"), "%s", nf_last_error());
    m.struct_size = sizeof m;
    CHECK(nf_flow_add_maf(g, &m) == NF_OK, "%s", nf_last_error());
    nf_read_options ro;
    nf_read_options_default(&ro);
    ro.struct_size = 0;
    nf_matrix mx;
    CHECK(nf_matrix_read("/nonexistent.csv", &ro, &mx) == NF_ERR_INVALID && said("nf_read_options"),
          "%s", nf_last_error());
    /* a filler keeps the caller's size */
    nf_config st;
    nf_flow_student_config(f, NF_MODEL_IAF, &st);
    CHECK(st.struct_size == sizeof st && st.model == NF_MODEL_IAF && st.dim == 2);
    nf_flow_distill_options(f, 1000, &opt);
    CHECK(opt.struct_size == sizeof opt && opt.max_epochs >= 1);
    nf_flow_free(g);
    nf_flow_free(s);
    nf_flow_free(f);
}

int main(void)
{
    RUN(test_write_within_the_callers_size);
    RUN(test_read_defaults_the_missing_fields);
    RUN(test_calls_refuse_unset_or_newer_structs);
    TEST_SUMMARY("test_sized");
}
