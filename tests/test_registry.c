/* The layer registry (layers/registry.c): every kind is listed once under
 * its tag with a loader; and for a flow holding one layer of every kind,
 * saved and read back, each section's kind is found, loads, and its
 * parameter count from the file's scalars (file_params) is a lower bound of
 * the layer's true count: a kind with a network that lacked file_params
 * would be taken for a per-dimension layer, which this catches. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "layers/layer.h"
#include "flow/flow.h"
#include "harness.h"
#include "io/mfile.h"
#include "layers/registry.h"

static void test_every_kind_listed_once(void)
{
    int n = 0;
    for (const layer_ops *k; (k = layer_kind_at(n)); n++) {
        CHECK(k->tag && k->load && k->save && k->n_params, "kind %d (%s) lacks an op", n, k->tag ? k->tag : "?");
        CHECK(layer_kind(k->tag) == k, "tag %s does not find its own kind", k->tag);
    }
    CHECK(n >= 13, "only %d kinds", n);
    CHECK(layer_kind("no_such_layer") == NULL && layer_kind_at(-1) == NULL);
}

/* D columns; at D = 1 a coupling's network reads nothing (no context),
 * which a bound of one input per network once overcounted: the tool saved
 * one-column NICE models its own reader refused. */
static void saved_kinds_read_back(int D)
{
    nf_flow *f = NULL;
    CHECK(nf_flow_new(&f, D, NF_BASE_NORMAL) == NF_OK);
    double lo[4] = {-INFINITY, 0, -INFINITY, -1}, hi[4] = {INFINITY, INFINITY, 5, 1};
    if (D == 1) /* a bounds section all the same */
        lo[0] = -1, hi[0] = 1;
    nf_made_options m;
    nf_made_options_default(&m);
    m.hidden = 6;
    CHECK(nf_flow_set_bounds(f, lo, hi) == NF_OK, "%s", nf_last_error());
    CHECK(nf_flow_add_actnorm(f) == NF_OK);
    CHECK(nf_flow_add_additive_coupling(f, NF_PART_HALVES, NULL, 0, 5, 1, NF_ACT_RELU) == NF_OK);
    CHECK(nf_flow_add_affine_coupling(f, NF_PART_HALVES, NULL, 1, 5, 2, NF_ACT_TANH, 3) == NF_OK);
    CHECK(nf_flow_add_spline_coupling(f, NF_PART_EVEN_ODD, NULL, 0, 5, 1, NF_ACT_RELU, 4, 3) == NF_OK);
    CHECK(nf_flow_add_rescale(f) == NF_OK);
    CHECK(nf_flow_add_permutation(f, NF_PERM_REVERSE, 1) == NF_OK);
    CHECK(nf_flow_add_linear_lu(f, 2) == NF_OK);
    CHECK(nf_flow_add_maf(f, &m) == NF_OK);
    CHECK(nf_flow_add_iaf(f, &m) == NF_OK);
    CHECK(nf_flow_add_spline_maf(f, &m, 5, 3) == NF_OK);
    CHECK(nf_flow_add_batch_norm(f) == NF_OK);
    CHECK(nf_flow_finalize(f, 3) == NF_OK, "%s", nf_last_error());
    char path[] = "/tmp/nflow_registry_XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    if (fd >= 0)
        close(fd);
    CHECK(nf_flow_save(f, path) == NF_OK, "%s", nf_last_error());
    nf_flow *back = NULL;
    CHECK(nf_flow_load(&back, path) == NF_OK, "D = %d: %s", D, nf_last_error());
    CHECK(!back || nf_flow_param_count(back) == nf_flow_param_count(f));
    nf_flow_free(back);
    mf_file *mf = NULL;
    CHECK(mf_read(path, &mf) == NF_OK, "%s", nf_last_error());
    int seen = 0;
    for (size_t i = 0; mf && i < mf_section_count(mf); i++) {
        const mf_section *s = mf_section_at(mf, i);
        const layer_ops *kind = layer_kind(mf_section_tag(s));
        if (!kind)
            continue; /* header, config, base, parameters */
        seen++;
        layer *l = NULL;
        CHECK(kind->load(mf, s, D, &l) == NF_OK && l, "%s: %s", kind->tag, nf_last_error());
        if (!l)
            continue;
        double bound = kind->file_params ? kind->file_params(mf, s, D) : 0;
        double real_count = (double)l->ops->n_params(l);
        CHECK(bound >= 0 && bound <= real_count, "%s: file_params %g, the layer has %g", kind->tag, bound,
              real_count);
        CHECK(kind->file_params || real_count <= 4.0 * D, "%s has %g parameters but no file_params", kind->tag,
              real_count);
        layer_free(l);
    }
    CHECK(seen == 13, "%d layer sections", seen); /* bounds, standardize and the 11 above */
    mf_free(mf);
    unlink(path);
    nf_flow_free(f);
}

static void test_saved_kinds_read_back(void) { saved_kinds_read_back(4); }
static void test_saved_kinds_read_back_one_column(void) { saved_kinds_read_back(1); }

int main(void)
{
    RUN(test_every_kind_listed_once);
    RUN(test_saved_kinds_read_back);
    RUN(test_saved_kinds_read_back_one_column);
    TEST_SUMMARY("test_registry");
}
