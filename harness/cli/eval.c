/* `semiseg eval`: a model with weights from a state-dict file, run on a
 * dataset's test (or val) list with the protocol's inference, scored per case
 * and class, written as metrics.csv and summary.json. */
#include "model_opts.h"
#include "split_source.h"
#include "datasets/dataset.h"
#include "harness/checkpoint.h"
#include "harness/evaluate.h"
#include "harness/experiment.h"
#include "harness/fileio.h"
#include "harness/predictor.h"
#include "kernels/error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void usage(FILE *f)
{
    fprintf(f,
            "usage: semiseg eval --weights W.h5 --model NAME --dataset D --data-root R\n"
            "                    [--split test|val] [--out DIR] [--save-pred] [--head NAME]\n"
            "                    [--lcc] [--empty zero|nan|error] [--batch N] [--tag NAME]\n"
            "                    [--classes K] [--norm KIND] [--cpu]\n"
            "       semiseg eval RUN_DIR [--tag best|last] [--out DIR] [--save-pred] [--head NAME]\n"
            "                    [--lcc] [--empty zero|nan|error] [--split test|val] [--batch N]\n\n"
            "Runs model NAME (eval mode: BatchNorm running statistics, no dropout) with the\n"
            "weights of W.h5 on every case of the split list of dataset D under R, with the\n"
            "dataset's protocol inference: 3-D datasets a sliding window (its patch and\n"
            "strides, uniform averaging, label = mean foreground probability > 0.5, argmax\n"
            "for more classes), 2-D datasets slice by slice (nearest zoom to the network\n"
            "input, argmax, nearest zoom back). Metrics per case and class 1..K-1 as in\n"
            "`semiseg metrics` (unit spacing). Writes DIR/metrics.csv (one row per case and\n"
            "class) and DIR/summary.json (per-class mean and std, mean Dice over classes,\n"
            "per-case values, the options, the split lists' SHA-256).\n\n"
            "With RUN_DIR (a `semiseg train` run directory) the dataset, data root, model,\n"
            "patch and sliding-window strides come from the run's resolved spec (stored in\n"
            "RUN_DIR/checkpoints/<tag>.h5, as RUN_DIR/spec.ini shows it) and the weights from\n"
            "RUN_DIR/checkpoints/<tag>.weights.h5 (tag best by default, or last; keys the\n"
            "model lacks, such as attached training-only heads, are skipped and counted);\n"
            "results go to RUN_DIR/eval-<tag>/ unless --out is given.\n\n"
            "  --weights W.h5   state_dict file (`semiseg export`, training, PyTorch)\n"
            "  --model NAME     registry name (list below)\n"
            "  --dataset D      dataset name (la, pancreas, acdc, ..., synth-la, ...)\n"
            "  --data-root R    the dataset's directory\n"
            "  --split S        test (default) or val\n"
            "  --out DIR        output directory (default: the weights file's directory;\n"
            "                   created when missing)\n"
            "  --save-pred      also write each prediction to DIR/pred/<case>.h5 ('pred', uint8)\n"
            "  --head NAME      output head (default seg1 = decoder 1)\n"
            "  --lcc            keep the largest connected component (DTC's --nms 1)\n"
            "  --empty RULE     empty-mask rule: zero (default), nan, error\n"
            "  --batch N        windows / slices per forward pass (default 1)\n"
            "  --tag NAME       tag recorded in summary.json (default: none)\n"
            "  --classes K      classes of the segmentation head (default: the dataset's;\n"
            "                   1 for the sigmoid head of DTC/SASSNet models)\n"
            "  --norm KIND      normalisation layers (default batch)\n"
            "  --cpu            run on the CPU reference backend\n\n");
    ss_cli_list_models(f);
}

static int ensure_dir(const char *cmd, const char *dir)
{
    if (ss_mkdirs(dir)) {
        fprintf(stderr, "%s: %s\n", cmd, semiseg_error());
        return -1;
    }
    if (access(dir, W_OK) != 0) {
        fprintf(stderr, "%s: directory %s is not writable\n", cmd, dir);
        return -1;
    }
    return 0;
}


/* What a run says about evaluation: the resolved spec stored in its
 * checkpoint CKPT, read through the experiment-spec layer as `train --resume`
 * reads it. */
typedef struct run_spec {
    char dataset[64], root[4096], model[64];
    int patch[3], stride[3], has_stride; /* 2-D runs have no eval.stride */
} run_spec;

static int run_spec_read(const char *cmd, const char *run_dir, const char *ckpt, run_spec *r)
{
    char *text = NULL, method[64];
    const char *dsn, *root, *model;
    if (ss_checkpoint_spec(ckpt, &text, method)) {
        fprintf(stderr, "%s: %s is not a finished run: %s\n", cmd, run_dir, semiseg_error());
        return -1;
    }
    ss_spec *spec = ss_spec_new();
    int rc = !spec || ss_spec_layer(spec, text, "spec of the run", SS_SPEC_DECLARE) ||
             ss_spec_str(spec, "run.dataset", &dsn) || ss_spec_str(spec, "run.data_root", &root) ||
             ss_spec_str(spec, "model.name", &model) ||
             ss_spec_int3(spec, "data.patch", r->patch) ||
             ((r->has_stride = ss_spec_get(spec, "eval.stride") != NULL) &&
              ss_spec_int3(spec, "eval.stride", r->stride));
    if (rc)
        fprintf(stderr, "%s: %s: %s\n", cmd, ckpt, spec ? semiseg_error() : "out of memory");
    else {
        snprintf(r->dataset, sizeof r->dataset, "%s", dsn);
        snprintf(r->root, sizeof r->root, "%s", root);
        snprintf(r->model, sizeof r->model, "%s", model);
    }
    ss_spec_free(spec);
    free(text);
    return rc ? -1 : 0;
}

int ss_cmd_eval(int argc, char **argv)
{
    const char *cmd = "eval";
    const char *wpath = NULL, *dname = NULL, *root = NULL, *split_s = "test", *out = NULL;
    const char *head = NULL, *tag = NULL, *empty_s = "zero";
    int save_pred = 0, lcc = 0, batch = 1, cpu = 0;
    ss_model_cfg o = ss_cli_model_unset();
    const char *run_dir = NULL;
    run_spec rs;
    int first = 1;
    if (argc >= 2 && argv[1][0] != '-') {
        run_dir = argv[1];
        first = 2;
    }
    for (int i = first; i < argc; i++) {
        int r = ss_cli_model_opt(&o, cmd, argc, argv, &i);
        if (r < 0)
            return 2;
        if (r)
            continue;
        const char *a = argv[i];
        const char **dst = !strcmp(a, "--weights")     ? &wpath
                           : !strcmp(a, "--dataset")   ? &dname
                           : !strcmp(a, "--data-root") ? &root
                           : !strcmp(a, "--split")     ? &split_s
                           : !strcmp(a, "--out")       ? &out
                           : !strcmp(a, "--head")      ? &head
                           : !strcmp(a, "--tag")       ? &tag
                           : !strcmp(a, "--empty")     ? &empty_s
                                                       : NULL;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "--save-pred")) {
            save_pred = 1;
        } else if (!strcmp(a, "--lcc")) {
            lcc = 1;
        } else if (!strcmp(a, "--cpu")) {
            cpu = 1;
        } else if (!strcmp(a, "--batch") && i + 1 < argc) {
            char *end;
            long b = strtol(argv[++i], &end, 10);
            if (*end || b < 1 || b > 1024) {
                fprintf(stderr, "%s: --batch '%s': want an integer 1..1024\n", cmd, argv[i]);
                return 2;
            }
            batch = (int)b;
        } else if (dst && i + 1 < argc) {
            *dst = argv[++i];
        } else if (dst || !strcmp(a, "--batch")) {
            fprintf(stderr, "%s: %s needs a value (see --help)\n", cmd, a);
            return 2;
        } else {
            fprintf(stderr, "%s: unknown option '%s' (see semiseg eval --help)\n", cmd, a);
            return 2;
        }
    }
    char run_weights[4200], run_out[4200];
    if (run_dir) {
        if (wpath || dname || root || o.name) {
            fprintf(stderr, "%s: with RUN_DIR the weights, model, dataset and data root come from "
                            "the run; drop --weights/--model/--dataset/--data-root\n", cmd);
            return 2;
        }
        if (!tag)
            tag = "best";
        if (strcmp(tag, "best") && strcmp(tag, "last")) {
            fprintf(stderr, "%s: --tag '%s': a run has best and last\n", cmd, tag);
            return 2;
        }
        char ckpt[4200];
        snprintf(ckpt, sizeof ckpt, "%s/checkpoints/%s.h5", run_dir, tag);
        if (run_spec_read(cmd, run_dir, ckpt, &rs))
            return 2;
        snprintf(run_weights, sizeof run_weights, "%s/checkpoints/%s.weights.h5", run_dir, tag);
        snprintf(run_out, sizeof run_out, "%s/eval-%s", run_dir, tag);
        wpath = run_weights;
        dname = rs.dataset;
        root = rs.root;
        o.name = rs.model;
        if (!o.patch[0])
            memcpy(o.patch, rs.patch, sizeof o.patch);
        if (!out)
            out = run_out;
    }
    if (!wpath || !dname || !root) {
        fprintf(stderr, "%s: --weights, --model, --dataset and --data-root are required (see --help)\n",
                cmd);
        return 2;
    }
    ss_empty_policy empty;
    if (ss_empty_policy_parse(empty_s, &empty)) {
        fprintf(stderr, "%s: --empty: %s\n", cmd, semiseg_error());
        return 2;
    }
    ss_split split;
    if (!strcmp(split_s, "test"))
        split = SS_SPLIT_TEST;
    else if (!strcmp(split_s, "val"))
        split = SS_SPLIT_VAL;
    else {
        fprintf(stderr, "%s: --split '%s': want test or val\n", cmd, split_s);
        return 2;
    }
    const ss_dataset_info *di = ss_dataset_lookup(dname);
    if (!di) {
        fprintf(stderr, "%s: %s\n", cmd, semiseg_error());
        return 2;
    }
    ss_model_cfg cfg;
    const ss_model_info *mi = ss_cli_model_cfg(&o, cmd, &cfg);
    if (!mi)
        return 2;
    if (mi->dims != di->dims) {
        fprintf(stderr, "%s: %s is a %d-D model but dataset %s is evaluated %d-D\n", cmd,
                mi->name, mi->dims, di->name, di->dims);
        return 2;
    }
    if (o.classes < 0)
        cfg.classes = di->classes;
    if (o.in_ch < 0)
        cfg.in_ch = di->in_channels;
    if (!o.patch[0])
        memcpy(cfg.patch, di->patch, sizeof cfg.patch);
    if (ss_cli_weights_readable(cmd, wpath))
        return 1;
    char outdir[4096];
    if (out)
        snprintf(outdir, sizeof outdir, "%s", out);
    else
        ss_cli_dirname(wpath, outdir, sizeof outdir);
    if (ensure_dir(cmd, outdir))
        return 1;
    char preddir[4200];
    snprintf(preddir, sizeof preddir, "%s/pred", outdir);
    if (save_pred && ensure_dir(cmd, preddir))
        return 1;

    ss_dataset *ds = NULL;
    ss_predictor *pr = NULL;
    ss_eval_result res;
    memset(&res, 0, sizeof res);
    int rc = 1;
    if (ss_dataset_open(dname, root, &ds))
        goto fail;
    int n = ss_dataset_count(ds, split);
    if (n < 1) {
        ss_seterr("dataset %s under %s has no %s cases", dname, root, split_s);
        goto fail;
    }
    ss_predictor_opts po = {cfg, batch, head, cpu ? ss_backend_cpu() : NULL, stderr};
    if (ss_predictor_create(&po, &pr) || ss_predictor_load(pr, wpath, run_dir ? 0 : 1))
        goto fail;
    if (ss_predictor_classes(pr) != di->classes) {
        ss_seterr("model %s head %s gives %d classes but dataset %s has %d (see --classes)",
                  mi->name, head ? head : "seg1", ss_predictor_classes(pr), di->name, di->classes);
        goto fail;
    }
    ss_eval_opts eo;
    memset(&eo, 0, sizeof eo);
    eo.infer.dims = di->dims;
    memcpy(eo.infer.patch, cfg.patch, sizeof eo.infer.patch);
    memcpy(eo.infer.stride, run_dir && rs.has_stride ? rs.stride : di->stride,
           sizeof eo.infer.stride);
    eo.infer.classes = di->classes;
    eo.infer.batch = batch;
    eo.infer.lcc = lcc;
    eo.empty = empty;
    eo.pred_dir = save_pred ? preddir : NULL;
    eo.log = stderr;
    ss_cli_split ss = {ds, split};
    ss_case_source src = ss_cli_split_source(&ss);
    fprintf(stderr, "eval: %s on %s %s (%d cases), weights %s\n", mi->name, dname, split_s, n,
            wpath);
    if (ss_evaluate(&eo, &src, ss_predictor_predict, pr, &res))
        goto fail;
    ss_eval_meta meta = {tag,   dname,  split_s, ss_dataset_split_sha256(ds),
                         mi->name, head ? head : "seg1", wpath, -1};
    if (ss_eval_write(&res, &eo, &meta, outdir))
        goto fail;
    for (int c = 0; c < res.classes - 1; c++)
        fprintf(stderr,
                "eval: class %d: dice %.4f jaccard %.4f hd95 %.2f asd %.2f (mean over %d cases)\n",
                c + 1, res.mean[c].dice, res.mean[c].jaccard, res.mean[c].hd95, res.mean[c].asd,
                res.n_cases);
    fprintf(stderr, "eval: mean dice %.4f; wrote %s/metrics.csv and %s/summary.json (%.1f s)\n",
            res.mean_dice, outdir, outdir, res.total_seconds);
    rc = 0;
    goto done;
fail:
    fprintf(stderr, "%s: %s\n", cmd, semiseg_error());
done:
    ss_eval_result_free(&res);
    ss_predictor_free(pr);
    if (ds)
        ss_dataset_close(ds);
    return rc;
}
