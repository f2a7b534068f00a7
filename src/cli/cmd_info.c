/*
 * cmd_info.c — `alexnet info [--json]`: what a bug report needs — version,
 * git commit, compiler, OS, the libraries and their versions (oneDNN, MPI,
 * CUDA, cuDNN, NCCL, image and JSON libraries), CPU features and GPUs.
 * The facts are gathered once into a JSON object; the text form prints the
 * same keys, one per line.
 */
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#ifdef _OPENMP
#include <omp.h>
#endif
#include <cjson/cJSON.h>
#include <jpeglib.h>
#include <png.h>
#include <zlib.h>
#ifdef ALEXNET_HAVE_DNNL
#include <oneapi/dnnl/dnnl.h>
#endif
#ifdef ALEXNET_HAVE_MPI
#include <mpi.h>
#endif
#ifdef ALEXNET_HAVE_CUDA
#include "backend/cuda/cuda_backend.h"
#endif

#include "backend/backend.h"
#include "cli/args.h"
#include "cli/build_info.h"
#include "cli/commands.h"
#include "common/env.h"
#include "common/json.h"
#include "common/util.h"

static void add(cJSON *o, const char *key, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void add(cJSON *o, const char *key, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    char *text = xvasprintf(fmt, ap);
    va_end(ap);
    json_add_str(o, key, text);
    free(text);
}

static void compiler(cJSON *o) {
#if defined(__clang__)
    add(o, "compiler", "clang %s", __clang_version__);
#elif defined(__GNUC__)
    add(o, "compiler", "GCC %s", __VERSION__);
#else
    add(o, "compiler", "unknown C compiler");
#endif
}

static void os(cJSON *o) {
    char line[512], pretty[256] = "unknown";
    FILE *f = fopen("/etc/os-release", "r");
    while (f && fgets(line, sizeof line, f)) {
        if (strncmp(line, "PRETTY_NAME=", 12) != 0) continue;
        char *v = line + 12;
        v[strcspn(v, "\n")] = '\0';
        size_t n = strlen(v);
        if (n >= 2 && (v[0] == '"' || v[0] == '\'') && v[n - 1] == v[0]) v[n - 1] = '\0', v++;
        snprintf(pretty, sizeof pretty, "%.250s", v);
    }
    if (f) fclose(f);
    add(o, "os", "%s", pretty);
    struct utsname u;
    if (uname(&u) == 0) add(o, "kernel", "%s %s %s", u.sysname, u.release, u.machine);
    else add(o, "kernel", "unknown");
}

static void cpu(cJSON *o) {
    FILE *f = fopen("/proc/cpuinfo", "r");
    char line[4096], model[256] = "unknown";
    int cores = 0;
    const char *wanted[] = { "avx2", "fma", "avx512f", "avx512_bf16", "amx_bf16" };
    int have[5] = { 0 };
    while (f && fgets(line, sizeof line, f)) {
        if (strncmp(line, "model name", 10) == 0) {
            char *colon = strchr(line, ':');
            if (colon) {
                snprintf(model, sizeof model, "%s", colon + 2);
                model[strcspn(model, "\n")] = 0;
            }
        } else if (strncmp(line, "processor", 9) == 0) {
            cores++;
        } else if (strncmp(line, "flags", 5) == 0) {
            line[strcspn(line, "\n")] = ' ';
            for (int i = 0; i < 5; i++) {
                char pat[32];
                snprintf(pat, sizeof pat, " %s ", wanted[i]);
                if (strstr(line, pat)) have[i] = 1;
            }
        }
    }
    if (f) fclose(f);
    cpu_set_t set;
    int usable = sched_getaffinity(0, sizeof set, &set) == 0 ? CPU_COUNT(&set) : cores;
    add(o, "cpu", "%s, %d logical cores (%d usable by this process; --threads 0 uses %d)", model, cores, usable,
        cpu_count());
    char feats[128] = "";
    for (int i = 0; i < 5; i++)
        snprintf(feats + strlen(feats), sizeof feats - strlen(feats), "%s%s%s", i ? " " : "", have[i] ? "+" : "-",
                 wanted[i]);
    add(o, "cpu_features", "%s", feats);
}

static void onednn(cJSON *o) {
#ifdef ALEXNET_HAVE_DNNL
    const dnnl_version_t *v = dnnl_version();
    const char *rt = v->cpu_runtime == DNNL_RUNTIME_OMP   ? "OpenMP"
                     : v->cpu_runtime == DNNL_RUNTIME_TBB ? "TBB"
                     : v->cpu_runtime == DNNL_RUNTIME_SEQ ? "sequential"
                                                          : "other";
    add(o, "onednn", "%d.%d.%d (git %s, CPU runtime %s)", v->major, v->minor, v->patch, v->hash, rt);
#else
    add(o, "onednn", "not built (no dnnl backend; apt-get install libdnnl-dev and reconfigure)");
#endif
}

static void mpi(cJSON *o) {
#ifdef ALEXNET_HAVE_MPI
    char lib[MPI_MAX_LIBRARY_VERSION_STRING] = "";
    int len = 0, major = 0, minor = 0;
    MPI_Get_library_version(lib, &len); /* both may be called before MPI_Init */
    MPI_Get_version(&major, &minor);
    lib[strcspn(lib, "\n")] = '\0';
    add(o, "mpi", "%s (MPI %d.%d)", lib, major, minor);
#else
    add(o, "mpi", "not built (no multi-process training; apt-get install libopenmpi-dev and reconfigure)");
#endif
}

static void cuda(cJSON *o) {
#ifdef ALEXNET_HAVE_CUDA
    CudaInfo ci;
    cuda_backend_info(&ci);
    add(o, "cuda_runtime", "%s", ci.runtime);
    add(o, "cuda_driver", "%s", ci.driver);
    add(o, "cudnn", "%s", ci.cudnn);
    add(o, "nccl", "%s", ci.nccl);
    cJSON *g = cJSON_AddArrayToObject(o, "gpus");
    for (int i = 0; i < ci.n_gpus; i++) cJSON_AddItemToArray(g, json_str(ci.gpus[i]));
    if (ci.n_gpus == 0) add(o, "no_gpu", "%s", ci.no_gpu);
#else
    add(o, "cuda_runtime", "not built (no CUDA toolkit when configured; docs: GPU)");
    cJSON_AddArrayToObject(o, "gpus");
    add(o, "no_gpu", "built without CUDA");
#endif
}

/* What each built backend can run here (AlexNet at 224 px): fp32, bf16, and
 * what --precision auto picks; a "no" says why. */
static void backends(cJSON *o) {
    Net net;
    Error err = { { 0 } };
    CHECK(net_build(&net, "alexnet", 1000, 224, -1.0f, &err) == 0, "%s", err.msg);
    add(o, "backends", "%s (default on cpu: %s)", backend_names(), backend_default("cpu", &net));
    for (int i = 0; backend_name_at(i); i++) {
        const char *name = backend_name_at(i);
        Error fp32 = { { 0 } }, bf16 = { { 0 } };
        int has_fp32 = backend_supports(name, &net, PRECISION_FP32, &fp32);
        int has_bf16 = backend_supports(name, &net, PRECISION_BF16, &bf16);
        char *key = xasprintf("backend_%s", name), why[96];
        Precision automatic = backend_auto_precision(name, &net, why, sizeof why);
        if (!has_fp32 && !has_bf16 && strcmp(fp32.msg, bf16.msg) == 0) add(o, key, "unusable here: %s", fp32.msg);
        else
            add(o, key, "fp32 %s%s; bf16 %s%s; --precision auto: %s%s%s%s", has_fp32 ? "yes" : "no: ",
                has_fp32 ? "" : fp32.msg, has_bf16 ? "yes" : "no: ", has_bf16 ? "" : bf16.msg,
                precision_name(automatic), why[0] ? " (" : "", why, why[0] ? ")" : "");
        free(key);
    }
}

/* The ALEXNET_* switches that are set (common/env.h; docs/ENVIRONMENT.md). */
static void environment(cJSON *o) {
    char *set = xstrdup("");
    for (int i = 0; i < env_switch_count(); i++) {
        if (!env_switch_setting(i)[0]) continue;
        char *more = xasprintf("%s%s%s=%s", set, set[0] ? " " : "", env_switch_name(i), env_switch_setting(i));
        free(set);
        set = more;
    }
    add(o, "environment", "%s", set[0] ? set : "no ALEXNET_* switch set (docs/ENVIRONMENT.md lists them)");
    free(set);
}

static cJSON *gather(void) {
    cJSON *o = cJSON_CreateObject();
    add(o, "alexnet", "%s", ALX_VERSION);
    add(o, "git_commit", "%s", alexnet_git_commit);
    add(o, "build_type", "%s", ALEXNET_BUILD_TYPE);
    compiler(o);
    os(o);
    backends(o);
    environment(o);
    onednn(o);
    mpi(o);
    cuda(o);
#ifdef LIBJPEG_TURBO_VERSION
    add(o, "libjpeg", "API %d (libjpeg-turbo)", JPEG_LIB_VERSION);
#else
    add(o, "libjpeg", "API %d", JPEG_LIB_VERSION);
#endif
    add(o, "libpng", "%s", png_get_libpng_ver(NULL));
    add(o, "zlib", "%s", zlibVersion());
    add(o, "cjson", "%s", cJSON_Version());
#ifdef _OPENMP
    add(o, "openmp", "%d, max threads %d", _OPENMP, omp_get_max_threads());
#endif
    cpu(o);
    return o;
}

static void print_text(const cJSON *o) {
    for (const cJSON *e = o->child; e; e = e->next) {
        char key[64];
        snprintf(key, sizeof key, "%s:", e->string);
        if (cJSON_IsString(e) && strcmp(e->string, "no_gpu") != 0) {
            printf("%-15s %s\n", key, e->valuestring);
        } else if (cJSON_IsArray(e) && !e->child) {
            const cJSON *why = cJSON_GetObjectItemCaseSensitive(o, "no_gpu");
            printf("%-15s none (%s)\n", key, cJSON_IsString(why) ? why->valuestring : "unknown");
        } else if (cJSON_IsArray(e)) {
            int i = 0;
            for (const cJSON *g = e->child; g; g = g->next) printf("%-15s %s\n", i++ ? "" : key, g->valuestring);
        }
    }
}

int cmd_info(int argc, char **argv) {
    int json = 0;
    ArgSpec specs[] = {
        { "json", ARG_FLAG, &json, "print only one JSON object on stdout (same keys as the text)", 1, 0, NULL },
    };
    int st = cli_parse("info", specs, (int)(sizeof specs / sizeof specs[0]), argc, argv, NULL, 0, NULL, "[--json]",
                       "What a bug report needs: version, git commit, compiler, OS, library versions (oneDNN, MPI,\n"
                       "CUDA, cuDNN, NCCL, ...), CPU features and GPUs.");
    if (st != CLI_GO_ON) return st;
    cJSON *o = gather();
    if (json) {
        char *s = json_print(o, 1);
        printf("%s\n", s);
        free(s);
    } else {
        print_text(o);
    }
    cJSON_Delete(o);
    return 0;
}
