# Stage 7: every paper table, ours beside the paper's numbers (resources/paper_numbers.yaml), as
# CSV, Markdown and an HTML page for the report (`snakemake --report results/report.html`),
# grouped there by paper and dataset.
from avexplain.tables import recognition as avrecognition
from avexplain.tables import comparisons as avcomparisons
from avexplain.tables import stan_table3 as avtable3
from avexplain.tables import fusion_layers as avfusion

STAGE_TARGETS.append(
    lambda dataset: (
        [
            paths.table("stan_table1"),
            paths.table("stan_table2"),
            paths.table("stan_table3"),
            *(
                [paths.table("synth_explanations"), paths.table("synth_comparisons")]
                if dataset == "synth"
                else []
            ),
        ]
        if dataset in config["run_datasets"]
        else []
    )
)


# Tables read small files: on a cluster they run on the login node.
localrules:
    recognition_tables,
    pointing_game_table3,
    synth_explanations_table,
    synth_comparisons_table,


rule recognition_tables:
    input:
        results=list(avrecognition.inputs(config).values()),
        paper=paths.PAPER_NUMBERS,
    output:
        table1_csv=paths.table("stan_table1", "csv"),
        table1_md=paths.table("stan_table1", "md"),
        table1_html=report(
            paths.table("stan_table1", "html"),
            caption="../report/recognition_tables.rst",
            category="STAN paper",
            subcategory="Tables",
            labels={"result": "Table 1: ablation of STAN"},
        ),
        table2_csv=paths.table("stan_table2", "csv"),
        table2_md=paths.table("stan_table2", "md"),
        table2_html=report(
            paths.table("stan_table2", "html"),
            caption="../report/recognition_tables.rst",
            category="STAN paper",
            subcategory="Tables",
            labels={"result": "Table 2: explanation models and audio-visual learners"},
        ),
    log:
        "logs/tables/recognition.log",
    benchmark:
        "benchmarks/out/tables/recognition.tsv"
    conda:
        "../../envs/avexplain.yaml"
    params:
        results=avrecognition.inputs(config),
        run_datasets=config["run_datasets"],
        provenance=provenance_caption(config["run_datasets"]),
    script:
        "../scripts/recognition_tables.py"


rule pointing_game_table3:
    input:
        **avtable3.inputs(config),
        paper=paths.PAPER_NUMBERS,
    output:
        csv=paths.table("stan_table3", "csv"),
        md=paths.table("stan_table3", "md"),
        html=report(
            paths.table("stan_table3", "html"),
            caption="../report/pointing_game_table3.rst",
            category="STAN paper",
            subcategory="Tables",
            labels={"result": "Table 3: pointing game for sounds"},
        ),
    log:
        "logs/tables/stan_table3.log",
    benchmark:
        "benchmarks/out/tables/stan_table3.tsv"
    conda:
        "../../envs/avexplain.yaml"
    params:
        datasets=avtable3.datasets(config),
        provenance=provenance_caption(avtable3.datasets(config)),
    script:
        "../scripts/pointing_game_table3.py"


rule synth_explanations_table:
    input:
        **{
            m: paths.ground_truth("synth", m)
            for m in config["explain"]["ground_truth_models"]
        },
    output:
        csv=paths.table("synth_explanations", "csv"),
        md=paths.table("synth_explanations", "md"),
        html=report(
            paths.table("synth_explanations", "html"),
            caption="../report/synth_explanations_table.rst",
            category="STAN paper",
            subcategory="synth",
            labels={"result": "Explanations against the synth ground truth"},
        ),
    log:
        "logs/tables/synth_explanations.log",
    benchmark:
        "benchmarks/out/tables/synth_explanations.tsv"
    conda:
        "../../envs/avexplain.yaml"
    params:
        models=config["explain"]["ground_truth_models"],
        provenance=provenance_caption(["synth"]),
    script:
        "../scripts/synth_explanations_table.py"


rule synth_comparisons_table:
    input:
        **avcomparisons.inputs(
            config, "synth", avconfig.section_for(config, "train", "synth")["seeds"]
        ),
    output:
        csv=paths.table("synth_comparisons", "csv"),
        md=paths.table("synth_comparisons", "md"),
        html=report(
            paths.table("synth_comparisons", "html"),
            caption="../report/synth_comparisons_table.rst",
            category="STAN paper",
            subcategory="synth",
            labels={"result": "Evidence: comparisons with bootstrap intervals"},
        ),
    log:
        "logs/tables/synth_comparisons.log",
    benchmark:
        "benchmarks/out/tables/synth_comparisons.tsv"
    conda:
        "../../envs/avexplain.yaml"
    params:
        provenance=provenance_caption(["synth"]),
    script:
        "../scripts/synth_comparisons_table.py"


# --- the localization families' tables (avexplain.tables.localization) ---------------------
from avexplain.tables import localization as avloctables
from avexplain.tables import localization_comparisons as avloccomparisons

STAGE_TARGETS.append(
    lambda dataset: (
        [
            *(paths.table(t) for t in avloctables.TABLES),
            *(
                [
                    paths.table(avloctables.POINTING_TABLE),
                    paths.table(avloccomparisons.TABLE),
                ]
                if dataset == "synth"
                else []
            ),
        ]
        if dataset in avlocruns.datasets(config)
        else []
    )
)


for table in avloctables.TABLES:

    rule:
        name:
            f"{table}_table"
        input:
            results=avloctables.inputs(config, table),
            paper=paths.PAPER_NUMBERS,
        output:
            csv=paths.table(table, "csv"),
            md=paths.table(table, "md"),
            html=report(
                paths.table(table, "html"),
                caption="../report/localization_tables.rst",
                category=avloctables.REPORT_CATEGORY[table.split("_")[0]],
                subcategory="Tables",
                labels={"result": avloctables.LAYOUTS[table]().title},
            ),
        log:
            f"logs/tables/{table}.log",
        benchmark:
            f"benchmarks/out/tables/{table}.tsv"
        # tables read small files: on a cluster they run on the login node
        localrule: True
        conda:
            "../../envs/avexplain.yaml"
        params:
            table=table,
            datasets=avlocruns.datasets(config),
            provenance=provenance_caption(avlocruns.datasets(config)),
        script:
            "../scripts/localization_table.py"


rule localization_pointing_table:
    input:
        report=paths.localization_pointing("synth"),
    output:
        csv=paths.table(avloctables.POINTING_TABLE, "csv"),
        md=paths.table(avloctables.POINTING_TABLE, "md"),
        html=report(
            paths.table(avloctables.POINTING_TABLE, "html"),
            caption="../report/localization_pointing_table.rst",
            category="Localization families",
            subcategory="synth",
            labels={"result": "Space attention against the synth boxes"},
        ),
    log:
        "logs/tables/localization_pointing.log",
    benchmark:
        "benchmarks/out/tables/localization_pointing.tsv"
    # a small file: on a cluster it runs on the login node
    localrule: True
    conda:
        "../../envs/avexplain.yaml"
    params:
        provenance=provenance_caption(["synth"]),
    script:
        "../scripts/localization_pointing_table.py"


rule localization_comparisons_table:
    input:
        **avloccomparisons.inputs(config, "synth"),
    output:
        csv=paths.table(avloccomparisons.TABLE, "csv"),
        md=paths.table(avloccomparisons.TABLE, "md"),
        html=report(
            paths.table(avloccomparisons.TABLE, "html"),
            caption="../report/localization_comparisons_table.rst",
            category="Localization families",
            subcategory="synth",
            labels={
                "result": "Evidence: the families' claims with bootstrap intervals"
            },
        ),
    log:
        "logs/tables/localization_comparisons.log",
    benchmark:
        "benchmarks/out/tables/localization_comparisons.tsv"
    # small files: on a cluster it runs on the login node
    localrule: True
    conda:
        "../../envs/avexplain.yaml"
    params:
        models=list(avloccomparisons.inputs(config, "synth")),
        provenance=provenance_caption(["synth"]),
    script:
        "../scripts/localization_comparisons_table.py"


# Tables 1-4 of the event-specific fusion layers and the modality-bias bar figure
# (docs/fusion_layers.md): built when one of its datasets is run.
STAGE_TARGETS.append(
    lambda dataset: (
        [paths.table(t) for t in names.FUSION_LAYER_TABLES]
        if dataset in avfusion.datasets(config)
        else []
    )
)


localrules:
    fusion_layers_tables,


rule fusion_layers_tables:
    input:
        results=list(avfusion.inputs(config).values()),
        paper=paths.PAPER_NUMBERS,
    output:
        **{
            f"table{k}_{ext}": paths.table(t, ext)
            for k, t in enumerate(names.FUSION_LAYER_TABLES, 1)
            for ext in ("csv", "md")
        },
        **{
            f"table{k}_html": report(
                paths.table(t, "html"),
                caption="../report/fusion_layers_tables.rst",
                category="Fusion layers paper",
                subcategory="Tables",
                labels={"result": f"Table {k}"},
            )
            for k, t in enumerate(names.FUSION_LAYER_TABLES, 1)
        },
        figure=report(
            paths.fusion_bias_figure(),
            caption="../report/fusion_layers_bias_figure.rst",
            category="Fusion layers paper",
            subcategory="Figures",
            labels={"result": "Modality bias per category"},
        ),
    log:
        "logs/tables/fusion_layers.log",
    benchmark:
        "benchmarks/out/tables/fusion_layers.tsv"
    conda:
        "../../envs/avexplain.yaml"
    params:
        results=avfusion.inputs(config),
        run_datasets=avfusion.datasets(config),
        provenance=provenance_caption(avfusion.datasets(config)),
    script:
        "../scripts/fusion_layers_tables.py"
