# semiseg build. `make` builds libsemiseg and the semiseg binary; `make test`
# builds and runs the Check suites; `make demo` runs a tiny synthetic training.
# CUDA is auto-detected (nvcc + cuDNN headers); CUDA=0 forces CPU-only, CUDA=1
# requires it.

CC       ?= cc
BUILD    ?= build
CUDA_HOME ?= /usr/local/cuda
NVCC     ?= $(CUDA_HOME)/bin/nvcc
OPT      ?= -O2
SAN      ?=

PKGS     := hdf5 check libpng libjpeg inih libcjson openblas zlib sleef
# Asked of pkg-config on first use, inside a recipe, so after ci/deps.sh (an
# order-only prerequisite of every object) has installed what was missing; a
# value taken when the Makefile is read would be empty on a fresh machine.
PKG_CFLAGS = $(eval PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null))$(PKG_CFLAGS)
PKG_LIBS   = $(eval PKG_LIBS := $(shell pkg-config --libs $(PKGS) 2>/dev/null))$(PKG_LIBS)

CFLAGS   += -std=c11 $(OPT) -g -Wall -Wextra -Werror -fopenmp -D_POSIX_C_SOURCE=200809L \
            -I. $(PKG_CFLAGS) -I/usr/include/nifti $(SAN)
LDLIBS   += $(PKG_LIBS) -ldnnl -lnifti2 -lznz -lteem -lpthread -fopenmp -lm $(SAN)

# ---- CUDA detection -------------------------------------------------------
CUDA_FOUND := $(shell test -x $(NVCC) && test -f $(CUDA_HOME)/include/cudnn.h && echo 1)
ifeq ($(CUDA),0)
  USE_CUDA :=
else ifeq ($(CUDA),1)
  ifneq ($(CUDA_FOUND),1)
    $(error CUDA=1 but nvcc or cudnn.h was not found under $(CUDA_HOME))
  endif
  USE_CUDA := 1
else
  USE_CUDA := $(CUDA_FOUND)
endif

LIB_SRC := $(wildcard kernels/*.c kernels/ops/*.c kernels/cpu/*.c harness/*.c harness/nn/*.c \
                      datasets/*.c methods/*.c baselines/*.c reports/*.c)
CLI_SRC := $(wildcard harness/cli/*.c)
CU_SRC  := $(wildcard kernels/cuda/*.cu)
TEST_SRC := $(wildcard tests/test_*.c)
TESTUTIL_SRC := $(filter-out $(TEST_SRC),$(wildcard tests/*.c))

ifeq ($(USE_CUDA),1)
  CFLAGS += -DSS_HAVE_CUDA
  NVFLAGS := -O2 -std=c++17 -I. -DSS_HAVE_CUDA \
             -gencode arch=compute_90,code=sm_90 -gencode arch=compute_90,code=compute_90 \
             -Xcompiler -Wall,-Wextra,-fPIC
  LDLIBS += -L$(CUDA_HOME)/lib64 -Wl,-rpath,$(CUDA_HOME)/lib64 -lcudnn -lcublas -lcudart -lstdc++
  CU_OBJ := $(CU_SRC:%.cu=$(BUILD)/%.o)
endif

LIB_OBJ := $(LIB_SRC:%.c=$(BUILD)/%.o) $(CU_OBJ)
CLI_OBJ := $(CLI_SRC:%.c=$(BUILD)/%.o)
TEST_OBJ := $(TEST_SRC:%.c=$(BUILD)/%.o) $(TESTUTIL_SRC:%.c=$(BUILD)/%.o)
LIB := $(BUILD)/libsemiseg.a
BIN := $(BUILD)/semiseg
TESTBIN := $(BUILD)/tests/semiseg_tests
DEPS_STAMP := $(BUILD)/.deps-ok
# Objects depend on the CUDA setting, so switching CUDA= within one BUILD dir
# rebuilds them (the stamp changes only when the setting does).
CUDA_STAMP := $(BUILD)/.cuda-setting
$(shell mkdir -p $(BUILD) && (echo 'USE_CUDA=$(USE_CUDA)' | cmp -s - $(CUDA_STAMP) || \
        echo 'USE_CUDA=$(USE_CUDA)' > $(CUDA_STAMP)))

.PHONY: all deps test asan demo clean
all: $(BIN)

deps: $(DEPS_STAMP)
$(DEPS_STAMP): ci/deps.sh
	@sh ci/deps.sh
	@mkdir -p $(BUILD) && touch $@

$(BUILD)/%.o: %.c $(CUDA_STAMP) | $(DEPS_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -MMD -MP -c $< -o $@

$(BUILD)/%.o: %.cu $(CUDA_STAMP) | $(DEPS_STAMP)
	@mkdir -p $(dir $@)
	$(NVCC) $(NVFLAGS) -c $< -o $@

$(LIB): $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BIN): $(CLI_OBJ) $(LIB)
	$(CC) $(CFLAGS) -o $@ $(CLI_OBJ) $(LIB) $(LDLIBS)

# The test runner collects every `Suite *suite_NAME(void)` found in tests/test_*.c.
$(BUILD)/tests/suites.h: $(TEST_SRC) | $(DEPS_STAMP)
	@mkdir -p $(dir $@)
	@sed -n 's/^Suite \*suite_\([a-z0-9_]*\)(void)$$/SUITE(\1)/p' $(TEST_SRC) > $@.tmp
	@cmp -s $@.tmp $@ || mv $@.tmp $@; rm -f $@.tmp

$(BUILD)/tests/main.o: tests/main.c $(BUILD)/tests/suites.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -I$(BUILD)/tests -MMD -MP -c $< -o $@

$(TESTBIN): $(TEST_OBJ) $(LIB)
	$(CC) $(CFLAGS) -o $@ $(TEST_OBJ) $(LIB) $(LDLIBS)

# SUITE=name runs one suite.
test: $(TESTBIN) $(BIN)
	OMP_WAIT_POLICY=$${OMP_WAIT_POLICY:-passive} $(if $(SUITE),CK_RUN_SUITE=$(SUITE)) $(abspath $(TESTBIN))

# Only the CUDA suite (GPU tests print a SKIP line each without a device).
.PHONY: test-cuda
test-cuda: $(TESTBIN)
	CK_RUN_SUITE=cuda $(abspath $(TESTBIN))

asan:
	$(MAKE) BUILD=build-asan OPT=-O1 SAN="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all" CUDA=0 test

# Table 1 of FBA-Net (reports/tables/table1.ini): `semiseg sweep` runs every
# implemented cell that has no finished run, then `semiseg table` writes
# T1_RUNS/table1.{md,tex,csv} (and prints the Markdown) and `semiseg plot ratio`
# the Dice-vs-labeled-ratio plots. PROFILE=paper (default) trains the published
# protocol on the real data under DATA_ROOT (LA/, Pancreas/, ACDC/; README, Data);
# PROFILE=smoke DATA=synthetic runs on the synthetic twins. JOBS trainings at once.
PROFILE   ?= paper
DATA      ?=
DATA_ROOT ?= data
JOBS      ?= 1
T1_RUNS   ?= runs/table1-$(PROFILE)$(if $(DATA),-$(DATA))
T1_OPTS    = --profile $(PROFILE) $(if $(DATA),--data $(DATA)) --data-root $(DATA_ROOT) \
             --runs $(T1_RUNS)
.PHONY: reproduce-table1
reproduce-table1: $(BIN)
	@./$(BIN) sweep reports/tables/table1.ini $(T1_OPTS) --jobs $(JOBS); rc=$$?; \
	./$(BIN) table reports/tables/table1.ini $(T1_OPTS) || exit 1; \
	./$(BIN) plot ratio reports/tables/table1.ini $(T1_OPTS) $(T1_RUNS)/ratio.png || true; \
	exit $$rc

# The smoke table of Supervised / MC-Net+ / FBA-Net at 10 % labels on the
# synthetic LA and ACDC twins, printed and written to DEMO_RUNS with its plots:
# training curves of every run, Dice vs labeled ratio, and an overlay of one LA
# test slice from FBA-Net's best checkpoint.
DEMO_RUNS ?= runs/demo
DEMO_OPTS  = --profile smoke --data synthetic --methods supervised,mcnet_plus,fbanet \
             --datasets la,acdc --ratios 10 --runs $(DEMO_RUNS)
demo: $(BIN)
	@./$(BIN) sweep reports/tables/table1.ini $(DEMO_OPTS) --jobs $(JOBS); rc=$$?; \
	for r in $(DEMO_RUNS)/synth-*/*/*/seed*; do \
	  if [ -f "$$r/train.log" ]; then ./$(BIN) plot curves "$$r" "$$r/curves.png" || rc=1; fi; \
	done; \
	./$(BIN) plot ratio reports/tables/table1.ini $(DEMO_OPTS) $(DEMO_RUNS)/ratio.png || rc=1; \
	sh reports/plots/overlay_run.sh ./$(BIN) $(DEMO_RUNS)/synth-la/fbanet/2/seed1337 \
	  $(DEMO_RUNS)/_data/synth-la-seed1337 $(DEMO_RUNS)/overlay-fbanet-la.png || rc=1; \
	./$(BIN) table reports/tables/table1.ini $(DEMO_OPTS) || exit 1; \
	exit $$rc

# Training-step timings side by side with PyTorch (ci/peers/bench.sh; env
# BENCH_THREADS, BENCH_ITERS, BENCH_REPEAT).
.PHONY: bench
bench: $(BIN)
	@sh ci/peers/bench.sh $(BIN)

clean:
	rm -rf $(BUILD) build-asan

-include $(LIB_OBJ:.o=.d) $(CLI_OBJ:.o=.d) $(TEST_OBJ:.o=.d)
