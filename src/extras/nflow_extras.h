/* The extras (libnflow_extras.a, for the tool, the tests and the
 * benchmarks; not installed): toy 2-D densities, the energy targets of
 * Rezende & Mohamed, PNG pictures of 2-D models. Kept out of libnflow so
 * that the library needs neither libpng nor the toys. They use nflow.h's
 * API (and its error state: nf_last_error explains a failure). */
#ifndef NFLOW_EXTRAS_H
#define NFLOW_EXTRAS_H

#include "nflow.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- energy targets --------------------------------------------------- */

/* The 2-D energy densities of Rezende & Mohamed (2015), log p = -U(x),
 * unnormalised: NULL-terminated names "u1".."u4". U2..U4 as published do
 * not decay in x1 (no normaliser: reverse KL has no minimum), so all four
 * add a wall 0.5 ((|x1| - 4) / 0.1)^2 beyond |x1| = 4 (src/extras/targets.c);
 * it changes nothing on the published [-4, 4] picture. */
NF_API const char *const *nf_target_names(void);
/* log p and (grad not NULL) its gradient for rows points x (rows x 2). */
NF_API nf_status nf_target_log_prob(const char *name, const float *x, size_t rows, double *log_p, float *grad);
/* A nf_log_density_fn for a built-in target: pass the name as `user`. */
NF_API int nf_target_callback(const float *x, size_t rows, int dim, double *log_p, float *grad, void *user);

/* ---- toy 2-D densities and pictures ------------------------------------ */

/* NULL-terminated list of the toy names. */
NF_API const char *const *nf_toy_names(void);
/* rows 2-D points of toy `name` drawn with `seed`, into x (rows x 2). */
NF_API nf_status nf_toy_sample(const char *name, size_t rows, uint64_t seed, float *x);
/* The true log-density of toy `name` at each row of x (rows x 2). */
NF_API nf_status nf_toy_log_prob(const char *name, const float *x, size_t rows, double *log_prob);

/* A PNG of a 2-D model: its density as a heat map, the data and the model's
 * samples side by side. `data` and `samples` may be NULL. The plotting box
 * is [lo, hi]^2; lo >= hi picks it from the data. */
NF_API nf_status nf_plot_png(nf_flow *f, const char *path, const float *data, size_t n_data,
                             const float *samples, size_t n_samples, double lo, double hi);
/* The same with n_samples of the model's samples drawn with `seed` (0: no
 * samples panel), as `nflow plot` and `nflow train --plot` draw them. */
NF_API nf_status nf_plot_model_png(nf_flow *f, const char *path, const float *data, size_t n_data,
                                   size_t n_samples, uint64_t seed, double lo, double hi);
/* A PNG of a 2-D model fitted to a built-in target ("u1".."u4"): the
 * target's density exp(-U), the model's density and n_samples model samples
 * (drawn with `seed`) side by side, on the box [lo, hi]^2 (lo < hi). */
NF_API nf_status nf_plot_target_png(nf_flow *f, const char *target, const char *path, size_t n_samples,
                                    uint64_t seed, double lo, double hi);
/* Two 2-D models side by side (e.g. teacher and student): the density of a,
 * the density of b, n_samples samples of a and of b (drawn with `seed`).
 * The box is [lo, hi]^2; lo >= hi picks it from the samples of a. */
NF_API nf_status nf_plot_compare_png(nf_flow *a, const char *title_a, nf_flow *b, const char *title_b,
                                     const char *path, size_t n_samples, uint64_t seed, double lo, double hi);

/* ---- images ------------------------------------------------------------ */

/* A grid of n images (rows of x, height x width x channels each, channels
 * innermost, values in [0, 256) as an image model gives them; 1 channel:
 * grey, 3: colour), `columns` to a row (0: a square-ish grid), each drawn
 * at a whole multiple of its size (images under 64 pixels a side are
 * enlarged), 2 pixels apart on white. */
NF_API nf_status nf_plot_images_png(const char *path, const float *x, size_t n, const int shape[3], int columns);

#ifdef __cplusplus
}
#endif

#endif
