#!/usr/bin/env python
"""Answer a question about an image with a trained hf-mmattn VQA model, through the pipeline.

    python examples/vqa/ask.py out/san-easyvqa --question "what color is the shape?"
    python examples/vqa/ask.py out/san-easyvqa --image photo.png --question "is there a circle?" --attention_figure att.png

Without --image it picks an easy-VQA test image (the `easy-vqa` package ships them).
"""

from __future__ import annotations

import argparse

from transformers import pipeline

import hf_mmattn  # noqa: F401  registers the models and restores the visual-question-answering pipeline


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", help="a folder written by run_vqa.py, or a Hub id")
    parser.add_argument("--question", required=True)
    parser.add_argument("--image", help="image path (default: the first easy-VQA test image)")
    parser.add_argument("--top_k", type=int, default=3)
    parser.add_argument("--attention_figure", help="write the attention maps over the image to this PNG")
    args = parser.parse_args(argv)

    image = args.image
    if image is None:
        import easy_vqa

        image = easy_vqa.get_test_image_paths()[0]
    vqa = pipeline("visual-question-answering", model=args.model)
    result = vqa(image=image, question=args.question, top_k=args.top_k, return_attention=bool(args.attention_figure))
    answers = result["answers"] if args.attention_figure else result
    print(f"image: {image}\nquestion: {args.question}")
    for answer in answers:
        print(f"  {answer['answer']:>12s}  {answer['score']:.3f}")
    if args.attention_figure and result["attentions"]:
        from hf_mmattn.visualization import plot_vqa_attention

        plot_vqa_attention(
            image, args.question, result["attentions"], answer=answers[0]["answer"],
            grid_size=result["image_grid_size"], path=args.attention_figure,
            titles=vqa.model.config.attention_titles(len(result["attentions"])),
        )
        print(f"attention maps: {args.attention_figure}")
    return answers


if __name__ == "__main__":
    main()
