# nflow build. `make` builds the library and the tool; `make check` runs every
# test; `make demo` trains a 2-D flow and writes pictures; `make bench` times.
# SAN=1 builds everything with AddressSanitizer + UndefinedBehaviorSanitizer
# (into build-san/ unless BUILD is given).

SAN ?= 0
# MPI=1: the tool can train on several processes (mpirun -np N nflow train;
# docs/distributed.md); the library stays MPI-free. Built into build-mpi.
MPI ?= 0
ifeq ($(MPI),1)
BUILD ?= build-mpi
endif
ifeq ($(SAN),1)
BUILD ?= build-san
SANFLAGS = -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
OPT = -O1
else
BUILD ?= build
SANFLAGS =
OPT = -O2
endif

CC ?= cc
# OpenBLAS's OpenMP build: it runs single-threaded, and is safe to call
# from several threads, inside nflow's parallel regions (src/core/kern.h); the
# serial build is not safe to call from two threads at once.
BLAS_INC ?= /usr/include/x86_64-linux-gnu/openblas-openmp
BLAS_LIB ?= /usr/lib/x86_64-linux-gnu/openblas-openmp
CFLAGS_BASE = -std=c11 -D_POSIX_C_SOURCE=200809L -g $(OPT) -fno-math-errno -Wall -Wextra -fopenmp -fPIC -fvisibility=hidden \
              -Iinclude -Isrc -I$(BLAS_INC) $(SANFLAGS)
CFLAGS += $(CFLAGS_BASE)
# libmvec: glibc's vector exp and tanh, used on x86-64 (src/core/kern.c)
MVEC := $(if $(filter x86_64,$(shell uname -m)),-lmvec,)
LDLIBS = -L$(BLAS_LIB) -Wl,-rpath,$(BLAS_LIB) -lopenblas -lpng -ldeflate -lz $(MVEC) -lm -fopenmp $(SANFLAGS)
# what links the extras (the tool, the tests, the benchmark) adds libpng
EXTRAS_LIBS = $(BUILD)/libnflow_extras.a $(BUILD)/libnflow.a

# The library's folders, from the floor up (the plan: README.md, "Source
# tree"); src/extras (toys, energy targets, PNG pictures) is a library of
# its own for the tool and the tests, so libnflow needs neither libpng nor
# the toys.
LIB_DIRS = core nets layers flow models train io data
LIB_SRC = $(foreach d,$(LIB_DIRS),$(wildcard src/$(d)/*.c))
LIB_OBJ = $(LIB_SRC:src/%.c=$(BUILD)/obj/%.o) $(BUILD)/obj/gen/header_text.o
EXTRAS_SRC = $(wildcard src/extras/*.c)
EXTRAS_OBJ = $(EXTRAS_SRC:src/%.c=$(BUILD)/obj/%.o)
# The double-precision build of the arithmetic, for gradient checks: every
# source but the public-API bridges (src/*/api_*.c) that take float buffers
# and the model files, which store float32.
DBL_SRC = $(filter-out src/models/model_file.c src/train/checkpoint.c,$(foreach s,$(LIB_SRC),$(if $(findstring /api_,$(s)),,$(s))))
DBL_OBJ = $(DBL_SRC:src/%.c=$(BUILD)/dbl/%.o)
TOOL_SRC = $(wildcard tools/*.c)
TOOL_OBJ = $(TOOL_SRC:tools/%.c=$(BUILD)/tool/%.o)
TEST_SRC = $(wildcard tests/test_*.c)
DTEST_SRC = $(wildcard tests/dtest_*.c)
TESTS = $(TEST_SRC:tests/%.c=$(BUILD)/tests/%) $(DTEST_SRC:tests/%.c=$(BUILD)/tests/%)
LIB_HEADERS = include/nflow.h $(wildcard src/*/*.h)
HEADERS = $(LIB_HEADERS) $(wildcard tools/*.h) tests/harness.h tests/dcheck.h

.PHONY: all deps check demo demo-images bench clean fuzz install uninstall abi-check abi-baseline
all: deps $(BUILD)/libnflow.a $(BUILD)/libnflow.so $(BUILD)/libnflow_extras.a $(BUILD)/nflow $(BUILD)/fit_banana $(BUILD)/train

deps:
	@sh scripts/setup.sh
	@if [ "$(MPI)" = 1 ]; then sh scripts/setup.sh mpi; fi

$(BUILD)/obj/%.o: src/%.c $(LIB_HEADERS)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -c $< -o $@

# nf_header: include/nflow.h as one C string, for the bindings
$(BUILD)/gen/header_text.c: include/nflow.h
	@mkdir -p $(@D)
	@{ echo '/* include/nflow.h as text (nf_header): made by the Makefile */'; echo '#include "nflow.h"'; \
	  echo 'const char *nf_header(void) {'; echo '    return'; \
	  sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' -e 's/^/        "/' -e 's/$$/\\n"/' $<; \
	  echo '        ;'; echo '}'; } > $@.tmp && mv $@.tmp $@

$(BUILD)/obj/gen/header_text.o: $(BUILD)/gen/header_text.c include/nflow.h
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -c $< -o $@

$(BUILD)/dbl/%.o: src/%.c $(LIB_HEADERS)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -DNF_REAL_DOUBLE -c $< -o $@

ifeq ($(MPI),1)
TOOL_CC = mpicc
TOOL_FLAGS = -DNF_MPI
else
TOOL_CC = $(CC)
TOOL_FLAGS =
endif

$(BUILD)/tool/%.o: tools/%.c $(HEADERS)
	@mkdir -p $(@D)
	$(TOOL_CC) $(CFLAGS) $(TOOL_FLAGS) -c $< -o $@

$(BUILD)/libnflow.a: $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/libnflow_extras.a: $(EXTRAS_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/libnflow_dbl.a: $(DBL_OBJ)
	@rm -f $@
	ar rcs $@ $^

# SONAME libnflow.so.1: a new major version is a new name; only the
# NF_API symbols are exported (-fvisibility=hidden elsewhere, and
# src/libnflow.map for the kernels' ifuncs)
$(BUILD)/libnflow.so: $(LIB_OBJ) Makefile src/libnflow.map
	$(CC) -shared -Wl,-soname,libnflow.so.$(NF_SOVERSION) -Wl,--version-script=src/libnflow.map -o $@ $(LIB_OBJ) $(LDLIBS)

# The ABI against abi/libnflow.abi (scripts/abi_check.sh, libabigail):
# an incompatible change fails unless NF_SOVERSION changes with it.
abi-check: $(BUILD)/libnflow.so
	sh scripts/abi_check.sh abi/libnflow.abi $(BUILD)/libnflow.so

abi-baseline: $(BUILD)/libnflow.so
	sh scripts/abi_check.sh --update abi/libnflow.abi $(BUILD)/libnflow.so

$(BUILD)/nflow: $(TOOL_OBJ) $(BUILD)/libnflow.a $(BUILD)/libnflow_extras.a
	$(TOOL_CC) -o $@ $(TOOL_OBJ) $(EXTRAS_LIBS) $(LDLIBS)

# the examples use the public header only
$(BUILD)/fit_banana: examples/fit_banana.c $(BUILD)/libnflow.a include/nflow.h
	$(CC) $(CFLAGS) -o $@ $< $(BUILD)/libnflow.a $(LDLIBS)
$(BUILD)/train: examples/train.c $(BUILD)/libnflow.a include/nflow.h
	$(CC) $(CFLAGS) -o $@ $< $(BUILD)/libnflow.a $(LDLIBS)

$(BUILD)/tests/test_%: tests/test_%.c $(BUILD)/libnflow.a $(BUILD)/libnflow_extras.a $(HEADERS)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -o $@ $< $(EXTRAS_LIBS) $(LDLIBS)

$(BUILD)/tests/dtest_%: tests/dtest_%.c $(BUILD)/libnflow_dbl.a $(HEADERS)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -DNF_REAL_DOUBLE -o $@ $< $(BUILD)/libnflow_dbl.a $(LDLIBS)

# fault injection for tests/cli_faults.sh (no sanitizers: it is preloaded)
$(BUILD)/tests/libfault.so: tests/fault_shim.c
	@mkdir -p $(@D)
	$(CC) -shared -fPIC -O2 -Wall -Wextra -o $@ $< -ldl

# the MPI tests' fault injection (tests/cli_mpi.sh): only in an MPI=1 build
$(BUILD)/tests/libmpifault.so: tests/mpi_fault_shim.c
	@mkdir -p $(@D)
	mpicc -shared -fPIC -O2 -Wall -Wextra -o $@ $< -ldl

ifeq ($(MPI),1)
MPI_TEST_LIBS = $(BUILD)/tests/libmpifault.so
endif

check: all $(TESTS) $(BUILD)/tests/libfault.so $(MPI_TEST_LIBS)
	@sh tests/run.sh $(BUILD)

demo: all
	@sh scripts/demo.sh $(BUILD)

# a small Glow on Fashion-MNIST for a few minutes, and grids of its samples
demo-images: all
	@sh scripts/demo_images.sh $(BUILD)

# the speed benchmark of issue 7 (bench/README.md)
$(BUILD)/bench_nflow: bench/bench.c $(BUILD)/libnflow.a $(BUILD)/libnflow_extras.a $(HEADERS)
	$(CC) $(CFLAGS) -o $@ $< $(EXTRAS_LIBS) $(LDLIBS)

# the narrow product alone, per instruction set (bench/narrow.c)
$(BUILD)/bench_narrow: bench/narrow.c $(BUILD)/libnflow.a $(HEADERS)
	$(CC) $(CFLAGS) -o $@ $< $(BUILD)/libnflow.a $(LDLIBS)

bench: all $(BUILD)/bench_nflow $(BUILD)/bench_narrow
	@echo "== where this ran"; $(BUILD)/nflow info --system
	@$(BUILD)/bench_narrow
	@sh bench/sample_vs_eval.sh $(BUILD)
	@sh bench/check_torch.sh $(BUILD)
	@sh bench/run_all.sh --build $(BUILD) --quick
	@sh bench/cli_vs_torch.sh $(BUILD) 1
	@sh bench/scaling.sh $(BUILD) 1,$$(nproc) 1

# libFuzzer targets (fuzz/README.md): clang with ASan + UBSan, OpenMP
# pragmas left serial (-fopenmp=libgomp: GCC's runtime for the omp_* calls)
FUZZ_BUILD = build-fuzz
FUZZ_CFLAGS = -std=c11 -D_POSIX_C_SOURCE=200809L -g -O1 -fno-math-errno -fopenmp=libgomp -Iinclude -Isrc \
              -I$(BLAS_INC) -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined
FUZZ_TARGETS = model checkpoint npy idx csv columns bounds recipe
# the extras too: fuzz_checkpoint's data is a toy's, the data its corpus was made for
FUZZ_OBJ = $(LIB_SRC:src/%.c=$(FUZZ_BUILD)/obj/%.o) $(EXTRAS_SRC:src/%.c=$(FUZZ_BUILD)/obj/%.o)

.SECONDARY: $(FUZZ_OBJ)
$(FUZZ_BUILD)/obj/%.o: src/%.c $(LIB_HEADERS)
	@mkdir -p $(@D)
	clang $(FUZZ_CFLAGS) -c $< -o $@

$(FUZZ_BUILD)/fuzz_%: fuzz/fuzz_%.c fuzz/fuzz_common.h $(FUZZ_OBJ)
	clang $(FUZZ_CFLAGS) -fsanitize=fuzzer -o $@ $< $(FUZZ_OBJ) -L$(BLAS_LIB) -Wl,-rpath,$(BLAS_LIB) -lopenblas \
	    -lpng -ldeflate -lz $(MVEC) -lm -lgomp

fuzz: deps
	@sh scripts/setup.sh fuzz
	@$(MAKE) --no-print-directory $(FUZZ_TARGETS:%=$(FUZZ_BUILD)/fuzz_%)

# make install PREFIX=/usr/local DESTDIR=: the header, libnflow.so.1 (and
# its development link), libnflow.a, nflow.pc for pkg-config, the tool, its
# manual pages (man/, the version filled in), and the Python package
# (python/nflow) in PYTHONDIR: the site-packages folder of python3 under
# PREFIX (Debian: /usr/local/lib/python3.X/dist-packages,
# /usr/lib/python3/dist-packages), else PREFIX/lib/python3/dist-packages.
# The package finds PREFIX/lib/libnflow.so.1 by the relative path recorded
# in its _install.py.
PREFIX ?= /usr/local
PYTHON ?= $(shell for p in python3 /usr/bin/python3; do $$p -c 'import numpy' >/dev/null 2>&1 && { echo $$p; exit; }; done; echo python3)
PYTHONDIR ?= $(shell $(PYTHON) -c 'import site, sys; p = [d for d in site.getsitepackages() if d.startswith(sys.argv[1] + "/lib/")]; print(p[0] if p else "")' '$(PREFIX)' 2>/dev/null | grep . || echo '$(PREFIX)/lib/python3/dist-packages')
PY_FILES = $(wildcard python/nflow/*.py)
NF_SOVERSION = 1
NF_VERSION = $(shell sed -n 's/^\#define NF_VERSION_STRING "\(.*\)"/\1/p' include/nflow.h)
LIBDIR = $(PREFIX)/lib
MANDIR = $(PREFIX)/share/man
MAN_PAGES = $(notdir $(wildcard man/*.1))
INSTALL_DIRS = $(DESTDIR)$(PREFIX)/include $(DESTDIR)$(LIBDIR)/pkgconfig $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(MANDIR)/man1

install: $(BUILD)/libnflow.a $(BUILD)/libnflow.so $(BUILD)/nflow
	mkdir -p $(INSTALL_DIRS)
	install -m 644 include/nflow.h $(DESTDIR)$(PREFIX)/include/nflow.h
	install -m 755 $(BUILD)/libnflow.so $(DESTDIR)$(LIBDIR)/libnflow.so.$(NF_VERSION)
	ln -sf libnflow.so.$(NF_VERSION) $(DESTDIR)$(LIBDIR)/libnflow.so.$(NF_SOVERSION)
	ln -sf libnflow.so.$(NF_SOVERSION) $(DESTDIR)$(LIBDIR)/libnflow.so
	install -m 644 $(BUILD)/libnflow.a $(DESTDIR)$(LIBDIR)/libnflow.a
	sed -e 's|@PREFIX@|$(PREFIX)|g; s|@LIBDIR@|$(LIBDIR)|g; s|@VERSION@|$(NF_VERSION)|g; s|@BLAS_LIB@|$(BLAS_LIB)|g; s|@MVEC@|$(MVEC)|g' \
	    scripts/nflow.pc.in > $(DESTDIR)$(LIBDIR)/pkgconfig/nflow.pc
	install -m 755 $(BUILD)/nflow $(DESTDIR)$(PREFIX)/bin/nflow
	for p in $(MAN_PAGES); do \
	    sed 's|@VERSION@|$(NF_VERSION)|g' man/$$p > $(DESTDIR)$(MANDIR)/man1/$$p && chmod 644 $(DESTDIR)$(MANDIR)/man1/$$p || exit 1; \
	done
	@pydir='$(PYTHONDIR)'; mkdir -p "$(DESTDIR)$$pydir/nflow" && \
	    install -m 644 $(filter-out python/nflow/_install.py,$(PY_FILES)) "$(DESTDIR)$$pydir/nflow/" && \
	    rel=$$(realpath -m -s --relative-to="$$pydir/nflow" '$(LIBDIR)/libnflow.so.$(NF_SOVERSION)') && \
	    printf '# written by make install: libnflow relative to this folder\nLIBRARY = "%s"\n' "$$rel" \
	        > "$(DESTDIR)$$pydir/nflow/_install.py" && echo "python package: $$pydir/nflow"

uninstall:
	rm -f $(DESTDIR)$(PREFIX)/include/nflow.h $(DESTDIR)$(LIBDIR)/libnflow.so.$(NF_VERSION) \
	    $(DESTDIR)$(LIBDIR)/libnflow.so.$(NF_SOVERSION) $(DESTDIR)$(LIBDIR)/libnflow.so $(DESTDIR)$(LIBDIR)/libnflow.a \
	    $(DESTDIR)$(LIBDIR)/pkgconfig/nflow.pc $(DESTDIR)$(PREFIX)/bin/nflow \
	    $(MAN_PAGES:%=$(DESTDIR)$(MANDIR)/man1/%)
	rm -rf '$(DESTDIR)$(PYTHONDIR)/nflow'

clean:
	rm -rf build build-san build-fuzz
