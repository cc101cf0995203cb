rule demo_data:
    output:
        directory("resources/demo"),
    params:
        seed=config["demo"]["seed"],
        videos=config["demo"]["videos"],
        frames_per_video=config["demo"]["frames_per_video"],
    log:
        "logs/demo_data.log",
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    conda:
        "../envs/pipeline.yaml"
    script:
        "../workflow_scripts/make_demo_data.py"
