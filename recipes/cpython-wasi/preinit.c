/* CPython's main program, with a Wizer pre-initialisation entry point (preinit: true).
 *
 * Linked in place of Programs/python.c. Unwizened, main() is Python's own main (Py_BytesMain).
 * Wizer calls wasmbuild_preinit() ("wizer.initialize") once at build time: it initialises the
 * interpreter, imports the modules named in WASMBUILD_PREINIT_IMPORTS and removes what must not
 * outlive the snapshot; Wizer then writes the memory out as the new module and renames
 * wasmbuild_resume() ("wizer.resume") to _start. At run time resume skips initialisation and
 * hands the real argv, env and std streams to the initialised interpreter before Py_RunMain.
 *
 * What the snapshot fixes at build time (docs: recipes/cpython-wasi/README.md):
 *  - the hash seed (0: PYTHONHASHSEED=0) so that two builds give the same bytes;
 *  - interpreter options read during initialisation (PYTHONHOME, -S, -E, -X ...): run-time
 *    command-line options that only steer what runs (-c, -m, script, -W) still apply;
 *  - wasi-libc's preopen table: the root filesystem preopened at "/" as the first directory
 *    (what wasmbuild run, runwasi and crun do), checked at resume.
 */
#include "Python.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/times.h>
#include <time.h>
#include <wasi/api.h>

extern void __wasm_call_ctors(void);
extern void __wasm_call_dtors(void);
extern int __main_void(void);
extern void __wasilibc_initialize_environ(void);
extern void __wasilibc_deinitialize_environ(void);
extern char **environ;

/* Set by the init function, so it is 1 only in the snapshot. */
static int preinitialized = 0;

/* wasi-libc emulates process clocks (clock, times: libwasi-emulated-process-clocks) from the
 * monotonic clock, with an origin taken in a constructor. In a snapshot that origin would be
 * the build's clock reading: different bytes on every build, and process time counted from the
 * build. These definitions keep those archive members out of the link; main() sets the origin
 * for every run, wizened or not, so the snapshot only ever holds 0. */
static __wasi_timestamp_t clock_origin = 0;

static __wasi_timestamp_t monotonic_now(void) {
    __wasi_timestamp_t now = 0;
    (void)__wasi_clock_time_get(__WASI_CLOCKID_MONOTONIC, 0, &now);
    return now;
}

clock_t clock(void) {
    return (clock_t)(monotonic_now() - clock_origin);
}

clock_t times(struct tms *buffer) {
    __wasi_timestamp_t now = monotonic_now();
    clock_t used = (clock_t)(now - clock_origin);
    *buffer = (struct tms){.tms_utime = used, .tms_stime = 0, .tms_cutime = 0, .tms_cstime = 0};
    return (clock_t)now;
}

/* While the snapshot is taken, what the host says about files must not depend on the build
 * machine: stat data (inode, device, link count, times) otherwise stays behind in the memory
 * the snapshot keeps, in freed heap blocks and stack frames, and two builds differ. The stage
 * links with -Wl,--wrap for these three calls (build.sh); init-time code only looks at file
 * types and sizes, which are kept. At run time the wrappers pass everything through. */
static int snapshotting = 0;

extern __wasi_errno_t __real___wasi_path_filestat_get(__wasi_fd_t, __wasi_lookupflags_t, const char *,
                                                      __wasi_filestat_t *);
extern __wasi_errno_t __real___wasi_fd_filestat_get(__wasi_fd_t, __wasi_filestat_t *);
extern __wasi_errno_t __real___wasi_fd_readdir(__wasi_fd_t, uint8_t *, __wasi_size_t, __wasi_dircookie_t,
                                               __wasi_size_t *);

static void normalise(__wasi_filestat_t *stat) {
    stat->dev = 0;
    stat->ino = 0;
    stat->nlink = 1;
    stat->atim = stat->mtim = stat->ctim = 0;
}

__wasi_errno_t __wrap___wasi_path_filestat_get(__wasi_fd_t fd, __wasi_lookupflags_t flags, const char *path,
                                               __wasi_filestat_t *stat) {
    __wasi_errno_t error = __real___wasi_path_filestat_get(fd, flags, path, stat);
    if (error == 0 && snapshotting) {
        normalise(stat);
    }
    return error;
}

__wasi_errno_t __wrap___wasi_fd_filestat_get(__wasi_fd_t fd, __wasi_filestat_t *stat) {
    __wasi_errno_t error = __real___wasi_fd_filestat_get(fd, stat);
    if (error == 0 && snapshotting) {
        normalise(stat);
    }
    return error;
}

__wasi_errno_t __wrap___wasi_fd_readdir(__wasi_fd_t fd, uint8_t *buf, __wasi_size_t len,
                                        __wasi_dircookie_t cookie, __wasi_size_t *used) {
    __wasi_errno_t error = __real___wasi_fd_readdir(fd, buf, len, cookie, used);
    if (error == 0 && snapshotting) {
        /* Entries are a header and a name; the last one may be cut anywhere. */
        size_t at = 0;
        while (at + offsetof(__wasi_dirent_t, d_ino) < *used) {
            size_t ino = at + offsetof(__wasi_dirent_t, d_ino);
            size_t n = *used - ino < sizeof(__wasi_inode_t) ? *used - ino : sizeof(__wasi_inode_t);
            memset(buf + ino, 0, n);
            if (at + sizeof(__wasi_dirent_t) > *used) {
                break;
            }
            __wasi_dirnamlen_t namlen;
            memcpy(&namlen, buf + at + offsetof(__wasi_dirent_t, d_namlen), sizeof namlen);
            at += sizeof(__wasi_dirent_t) + namlen;
        }
    }
    return error;
}

static void fail(const char *what) {
    fprintf(stderr, "python3.wasm (pre-initialised): %s\n", what);
    if (PyErr_Occurred()) {
        PyErr_Print();
    }
    _Exit(70);
}

/* Run Python code in a namespace of its own: __main__ must stay as a fresh start leaves it. */
static void run_private(const char *code, const char *what) {
    PyObject *globals = PyDict_New();
    if (globals == NULL || PyDict_SetItemString(globals, "__builtins__", PyEval_GetBuiltins()) < 0) {
        fail(what);
    }
    PyObject *result = PyRun_String(code, Py_file_input, globals, globals);
    if (result == NULL) {
        fail(what);
    }
    Py_DECREF(result);
    Py_DECREF(globals);
}

/* Referencing __wasm_call_ctors makes wasm-ld leave the constructors to us: the normal path
 * and the init function run them, resume must not run them again (they would append the
 * run's preopens to the table already in the snapshot). */
static int ctors_done = 0;
static void run_ctors(void) {
    if (!ctors_done) {
        ctors_done = 1;
        __wasm_call_ctors();
    }
}

__attribute__((export_name("wizer.initialize")))
void wasmbuild_preinit(void) {
    snapshotting = 1;
    run_ctors();
    PyConfig config;
    PyConfig_InitPythonConfig(&config);
    /* Reproducible snapshot: string hashes are cached in the objects it holds. */
    config.use_hash_seed = 1;
    config.hash_seed = 0;
    config.parse_argv = 0;
    /* argv[0] as the image runs it, so sys.executable matches an unwizened start. */
    PyStatus status = PyConfig_SetBytesString(&config, &config.program_name, "python3.wasm");
    if (PyStatus_Exception(status)) {
        fail("cannot set the program name");
    }
    status = Py_InitializeFromConfig(&config);
    PyConfig_Clear(&config);
    if (PyStatus_Exception(status)) {
        fail(status.err_msg ? status.err_msg : "initialisation failed");
    }
    const char *names = getenv("WASMBUILD_PREINIT_IMPORTS");
    if (names != NULL && *names) {
        PyObject *mods = PyUnicode_FromString(names);
        PyObject *list = mods ? PyUnicode_Split(mods, NULL, -1) : NULL;
        Py_XDECREF(mods);
        if (list == NULL) {
            fail("cannot read WASMBUILD_PREINIT_IMPORTS");
        }
        for (Py_ssize_t i = 0; i < PyList_GET_SIZE(list); i++) {
            PyObject *mod = PyImport_Import(PyList_GET_ITEM(list, i));
            if (mod == NULL) {
                fail("a module in preinit_imports cannot be imported");
            }
            Py_DECREF(mod);
        }
        Py_DECREF(list);
    }
    /* Leave no garbage and no host env in the snapshot: the env is read again at resume. */
    PyGC_Collect();
    __wasilibc_deinitialize_environ();
    preinitialized = 1;
    snapshotting = 0;
}

/* os.environ wraps posix.environ, a dict of bytes filled when posix was imported (in the
 * snapshot): refill it in place from the run's environment. */
static void refresh_environ(void) {
    __wasilibc_initialize_environ();
    PyObject *posix = PyImport_ImportModule("posix");
    PyObject *env = posix ? PyObject_GetAttrString(posix, "environ") : NULL;
    Py_XDECREF(posix);
    if (env == NULL || !PyDict_Check(env)) {
        fail("posix.environ");
    }
    PyDict_Clear(env);
    for (char **item = environ; item && *item; item++) {
        const char *eq = strchr(*item, '=');
        if (eq == NULL || eq == *item) {
            continue;  /* as posixmodule.c's convertenviron() */
        }
        PyObject *key = PyBytes_FromStringAndSize(*item, eq - *item);
        PyObject *value = PyBytes_FromString(eq + 1);
        if (key == NULL || value == NULL || PyDict_SetDefault(env, key, value) == NULL) {
            fail("posix.environ");
        }
        Py_DECREF(key);
        Py_DECREF(value);
    }
    Py_DECREF(env);
}

/* The snapshot's preopen table holds "/" (fd 3): the runner must preopen the same. */
static void check_preopens(void) {
    __wasi_prestat_t prestat;
    char name[2] = {0, 0};
    if (__wasi_fd_prestat_get(3, &prestat) != 0 || prestat.tag != __WASI_PREOPENTYPE_DIR
        || prestat.u.dir.pr_name_len != 1
        || __wasi_fd_prestat_dir_name(3, (uint8_t *)name, 1) != 0 || name[0] != '/') {
        fprintf(stderr, "python3.wasm (pre-initialised): needs the root filesystem preopened "
                        "at / as the first directory (fd 3)\n");
        _Exit(70);
    }
}

/* Run-time state the snapshot cannot know: the std streams' terminals, and files the image
 * added after the snapshot (negative import caches, site-packages). */
static const char RESUME_PY[] =
    "import sys, os, site\n"
    "if sys.stdout is not None and not sys.stdout.write_through and os.isatty(1):\n"
    "    sys.stdout.reconfigure(line_buffering=True)\n"
    "for _k in [k for k, v in sys.path_importer_cache.items() if v is None]:\n"
    "    del sys.path_importer_cache[_k]\n"
    "if not sys.flags.no_site:\n"
    "    site.addsitepackages(site.removeduppaths())\n"
    "if 'random' in sys.modules:\n"  /* seeded at import: each run needs its own sequence */
    "    sys.modules['random'].seed()\n";


static int resume_main(int argc, char **argv) {
    check_preopens();
    refresh_environ();
    /* The run's argv through CPython's own parser: sys.argv, sys.orig_argv, -c/-m/script. */
    PyConfig config;
    PyConfig_InitPythonConfig(&config);
    if (_PyInterpreterState_GetConfigCopy(&config) < 0) {
        fail("cannot read the interpreter's configuration");
    }
    PyObject *path = PySys_GetObject("path");  /* borrowed; _PySys_UpdateConfig resets it */
    PyObject *saved_path = path ? PyList_GetSlice(path, 0, PyList_GET_SIZE(path)) : NULL;
    PyStatus status = PyConfig_SetBytesArgv(&config, argc, argv);
    if (!PyStatus_Exception(status)) {
        status = PyConfig_SetWideStringList(&config, &config.orig_argv, 0, NULL);
    }
    if (!PyStatus_Exception(status)) {
        status = PyConfig_SetString(&config, &config.run_filename, NULL);
    }
    if (!PyStatus_Exception(status)) {
        status = PyConfig_SetString(&config, &config.run_command, NULL);
    }
    if (!PyStatus_Exception(status)) {
        status = PyConfig_SetString(&config, &config.run_module, NULL);
    }
    if (PyStatus_Exception(status)) {
        fail("cannot set argv");
    }
    config.parse_argv = 1;
    status = PyConfig_Read(&config);  /* parses argv once (-V, -h and bad options exit here) */
    if (PyStatus_Exception(status)) {
        PyConfig_Clear(&config);
        if (PyStatus_IsExit(status)) {
            return status.exitcode;  /* what to print is printed */
        }
        fprintf(stderr, "python3.wasm: %s\n", status.err_msg ? status.err_msg : "bad command line");
        return 1;
    }
    if (_PyInterpreterState_SetConfig(&config) < 0) {
        fail("cannot apply the command line");
    }
    PyConfig_Clear(&config);
    if (saved_path != NULL) {
        if (PySys_SetObject("path", saved_path) < 0) {
            fail("sys.path");
        }
        Py_DECREF(saved_path);
    }
    run_private(RESUME_PY, "resume");
    return Py_RunMain();
}

int main(int argc, char **argv) {
    clock_origin = monotonic_now();
    if (preinitialized) {
        return resume_main(argc, argv);
    }
    run_ctors();
    return Py_BytesMain(argc, argv);
}

__attribute__((export_name("wizer.resume")))
void wasmbuild_resume(void) {
    int code = __main_void();
    __wasm_call_dtors();
    if (code != 0) {
        __wasi_proc_exit((__wasi_exitcode_t)code);
    }
}
