# alexnet.c — the commands a user types. CMake does the real build work.
#   make run     install, build, prepare Fashion-MNIST, train, evaluate, print results
#                (within TOTAL=15m; BUDGET=10m or EPOCHS=N to choose the training's length)
#   make test    install, build, run the test suite (also under ASan+UBSan); CI runs this
#   make test-long  the tests labelled `long` (minutes each: kills, real-clock budgets, cluster failures)
#   make build   install and build only
#   make fuzz    libFuzzer targets under ASan+UBSan, FUZZ_SECONDS each (docs/FUZZING.md)
#   make test CTEST_ARGS="-L fresh"   a subset of the suite (ctest's own filters)
JOBS      ?= $(shell nproc)
BUILD     ?= build
ASAN      ?= build-asan
FUZZ      ?= build-fuzz
FUZZ_SECONDS ?= 60
DATA      ?= data/fashion-mnist
RUN_DIR   ?= runs/fashion-mnist
CMAKE_ARGS ?=
CTEST_ARGS ?=
# Free space the suite needs in TMPDIR: its heaviest tests write checkpoints of
# full-size runs, about 5 GiB each at the peak (9.4 GiB measured with two at once).
TMP_DIR   ?= $(or $(TMPDIR),/tmp)
TEST_DISK_GIB ?= $(shell j=$(JOBS); [ $$j -gt 4 ] && j=4; echo $$((5 * j + 2)))
# The install step brings oneDNN, Open MPI and protobuf-c + onnx.proto, so the
# make path requires them: a missing one fails here instead of quietly building
# without the dnnl backend, MPI or ONNX export (plain `cmake` keeps them
# optional: AUTO).
REQUIRE   ?= -DALEXNET_WITH_DNNL=ON -DALEXNET_WITH_MPI=ON -DALEXNET_WITH_ONNX=ON

.PHONY: all build compile test test-fast test-asan test-long fuzz run clean format

all: build

build:
	@scripts/install-deps.sh build
	@$(MAKE) --no-print-directory compile

compile:
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release $(REQUIRE) $(CMAKE_ARGS)
	cmake --build $(BUILD) -j $(JOBS)

# The suite on the optimised build, then again under AddressSanitizer and
# UndefinedBehaviorSanitizer.
test: test-fast test-asan

test-fast:
	@scripts/install-deps.sh test
	@$(MAKE) --no-print-directory compile
	@scripts/check-disk.sh $(TEST_DISK_GIB) $(TMP_DIR) "make test (-j $(JOBS))"
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS) -LE '^long$$' $(CTEST_ARGS)

test-asan:
	@scripts/install-deps.sh test
	cmake -S . -B $(ASAN) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DALEXNET_SANITIZE=ON -DALEXNET_WITH_CUDA=OFF $(REQUIRE) $(CMAKE_ARGS)
	cmake --build $(ASAN) -j $(JOBS)
	@scripts/check-disk.sh $(TEST_DISK_GIB) $(TMP_DIR) "make test-asan (-j $(JOBS))"
	cd $(ASAN) && ASAN_OPTIONS=detect_leaks=1 ctest --output-on-failure -j $(JOBS) -LE '^(no_asan|long)$$' $(CTEST_ARGS)

# The long tests on the optimised build (docs/TESTING.md): outside `make test`, which CI runs in 45 minutes.
test-long:
	@scripts/install-deps.sh test
	@$(MAKE) --no-print-directory compile
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS) -L '^long$$' $(CTEST_ARGS)

# Every fuzz target for FUZZ_SECONDS, one after the other (clang, own build
# dir, no optional backends: the parsers are what is fuzzed).
fuzz:
	@scripts/install-deps.sh fuzz
	cmake -S . -B $(FUZZ) -DCMAKE_C_COMPILER=clang -DALEXNET_FUZZ=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	  -DALEXNET_WITH_DNNL=OFF -DALEXNET_WITH_MPI=OFF -DALEXNET_WITH_CUDA=OFF -DALEXNET_WITH_ONNX=OFF
	cmake --build $(FUZZ) -j $(JOBS)
	scripts/run-fuzz.sh $(FUZZ) $(FUZZ_SECONDS)

# TOTAL (default 15m) is the whole job's deadline; BUDGET=10m gives the training
# its own budget instead, EPOCHS=N trains N epochs (scripts/run-fashion-mnist.sh).
run:
	@start=$$(date +%s); scripts/run-fashion-mnist.sh --check - - && scripts/install-deps.sh run && \
	  $(MAKE) --no-print-directory compile && \
	  RUN_START=$$start scripts/run-fashion-mnist.sh $(BUILD)/alexnet $(DATA) $(RUN_DIR)

# Formats the C and CUDA sources with .clang-format (clang-format 14, Debian 12's).
format:
	git ls-files 'src/*.c' 'src/*.h' 'src/*.cu' 'tests/*.c' 'tests/*.h' 'fuzz/*.c' 'fuzz/*.h' 'bench/*.c' | xargs clang-format -i

clean:
	rm -rf $(BUILD) $(ASAN) $(FUZZ)
