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

PKGS     := hdf5 check libpng libjpeg inih libcjson openblas zlib
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)

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
	$(if $(SUITE),CK_RUN_SUITE=$(SUITE)) $(abspath $(TESTBIN))

# Only the CUDA suite (GPU tests print a SKIP line each without a device).
.PHONY: test-cuda
test-cuda: $(TESTBIN)
	CK_RUN_SUITE=cuda $(abspath $(TESTBIN))

asan:
	$(MAKE) BUILD=build-asan OPT=-O1 SAN="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all" CUDA=0 test

demo: $(BIN)
	./$(BIN) demo

# Training-step timings side by side with PyTorch (ci/peers/bench.sh; env
# BENCH_THREADS, BENCH_ITERS, BENCH_REPEAT).
.PHONY: bench
bench: $(BIN)
	@sh ci/peers/bench.sh $(BIN)

clean:
	rm -rf $(BUILD) build-asan

-include $(LIB_OBJ:.o=.d) $(CLI_OBJ:.o=.d) $(TEST_OBJ:.o=.d)
