#!/usr/bin/env python3
"""MediaPipe Hands (static-image mode, one hand) re-implemented with numpy + onnxruntime.

    python scripts/hand_models/pipeline_numpy.py [--variant full|lite] [--compare] [photo ...]

This file is the executable specification of the hand-landmark pipeline that the Rust
port follows. It runs the ONNX files made by convert.py (asl-core/models/hand/) and does
every step around them the way MediaPipe 0.10.21's CPU graph does. Each constant below
names the graph node and option it comes from; the graphs were read from the mediapipe
0.10.21 wheel (hand_landmark_tracking_cpu.binarypb, and the subgraphs PalmDetectionCpu,
PalmDetectionDetectionToRoi, HandLandmarkCpu embedded in _framework_bindings.so), the
calculators' behaviour from MediaPipe's C++ sources (file names in the comments).

The pipeline (image = H x W x 3 RGB uint8, pixel (i, j) has its centre at x=j, y=i as in
OpenCV; "normalised" coordinates are pixels / W and pixels / H):

 1. Palm-detector input: the whole image is the ROI, enlarged to a square (the longer side)
    about the image centre, i.e. centred letterbox with black borders; sampled to 192x192
    with bilinear interpolation; RGB / 255 -> [0, 1]; NCHW.
 2. Palm detector -> 2016 x 18 regressors + 2016 logits. Decode against the 2016 SSD
    anchors, clip the logit to +-100, sigmoid, keep score >= 0.5, weighted NMS (IoU > 0.3
    merges), letterbox removal. Keep the best detection (max_num_hands = 1).
 3. Hand ROI: rotation so that keypoint 0 (wrist) -> keypoint 2 (middle-finger MCP) points
    up; centre shifted by -0.5 x box height along the hand's "up" axis; square side =
    2.6 x the longer box side (in pixels).
 4. Landmark input: that rotated square sampled to 224x224, bilinear, replicate border,
    RGB / 255 -> [0, 1].
 5. Landmark model -> 21 x (x, y, z) in crop pixels, hand presence (already a sigmoid),
    handedness (P(Left), already a sigmoid), 21 world landmarks (metres). Presence must be
    > 0.5 (strict). Map the landmarks back through the rotated square.
"""
import argparse
import json
import math
import os
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", ".."))
MODEL_DIR = os.path.join(REPO, "asl-core", "models", "hand")
DATA_DIR = os.path.join(REPO, "asl-core", "tests", "data", "hands")

# ============================================================================ constants
# --- Palm detector input: PalmDetectionCpu / ImageToTensorCalculator options
PALM_INPUT_SIZE = 192              # output_tensor_width/height: 192
PALM_INPUT_RANGE = (0.0, 1.0)      # output_tensor_float_range {min: 0 max: 1}
PALM_BORDER = "zero"               # border_mode: BORDER_ZERO (black letterbox)
# keep_aspect_ratio: true -> ROI padded to a square, padding split equally on both sides.

# --- Anchors: PalmDetectionCpu / SsdAnchorsCalculator options
# input_size 192x192, num_layers 4, strides [8, 16, 16, 16], aspect_ratios [1.0],
# anchor_offset 0.5, fixed_anchor_size: true, interpolated_scale_aspect_ratio unset = 1.0
# (its proto default), so each layer gives 2 anchors per cell; layers with equal strides
# are merged (ssd_anchors_calculator.cc): 24x24 cells x 2 + 12x12 cells x (3 x 2) = 2016.
# With fixed_anchor_size every anchor has w = h = 1; min/max_scale (0.1484375, 0.75) unused.
ANCHOR_STRIDES = (8, 16, 16, 16)
ANCHORS_PER_LAYER = 2
ANCHOR_OFFSET = 0.5

# --- Decoding: PalmDetectionCpu / TensorsToDetectionsCalculator options
NUM_BOXES = 2016                   # num_boxes
NUM_COORDS = 18                    # num_coords: 4 box + 7 keypoints x 2
BOX_SCALE = 192.0                  # x_scale = y_scale = w_scale = h_scale = 192
NUM_KEYPOINTS = 7                  # num_keypoints, keypoint_coord_offset 4, 2 values each
# reverse_output_order: true -> box layout is (x_center, y_center, w, h) (XYWH), keypoints (x, y)
SCORE_CLIP = 100.0                 # score_clipping_thresh
MIN_SCORE = 0.5                    # min_score_thresh (= Hands(min_detection_confidence)); kept if >=

# --- NMS: PalmDetectionCpu / NonMaxSuppressionCalculator options
NMS_IOU = 0.3                      # min_suppression_threshold; a box is merged if IoU > 0.3
# overlap_type: INTERSECTION_OVER_UNION, algorithm: WEIGHTED, max_num_detections unset (-1)
MAX_HANDS = 1                      # ClipDetectionVectorSizeCalculator <- num_hands side packet

# --- Palm -> hand ROI: PalmDetectionDetectionToRoi
ROT_KEYPOINT_START = 0             # DetectionsToRectsCalculator rotation_vector_start_keypoint_index
ROT_KEYPOINT_END = 2               # rotation_vector_end_keypoint_index
ROT_TARGET_ANGLE = math.pi / 2     # rotation_vector_target_angle_degrees: 90
ROI_SHIFT_X = 0.0                  # RectTransformationCalculator shift_x (unset)
ROI_SHIFT_Y = -0.5                 # shift_y: -0.5 (of the box height, along the hand's axis)
ROI_SCALE = 2.6                    # scale_x = scale_y = 2.6
# square_long: true -> the box is made square with its longer side (in pixels) before scaling

# --- Landmark model input: HandLandmarkCpu / ImageToTensorCalculator options
LANDMARK_INPUT_SIZE = 224          # output_tensor_width/height: 224
LANDMARK_INPUT_RANGE = (0.0, 1.0)  # output_tensor_float_range {min: 0 max: 1}
LANDMARK_BORDER = "replicate"      # border_mode unset -> BORDER_UNSPECIFIED -> kReplicate
# keep_aspect_ratio: true, but the ROI is square in pixels, so no letterbox here.

# --- Landmark model outputs: HandLandmarkCpu
NUM_LANDMARKS = 21                 # TensorsToLandmarksCalculator num_landmarks
NORMALIZE_Z = 0.4                  # normalize_z: 0.4 (z_norm = z / 224 / 0.4)
PRESENCE_THRESHOLD = 0.5           # ThresholdingCalculator threshold (= min_tracking_confidence); accept if >
HANDEDNESS_LABELS = ("Left", "Right")  # handedness.txt; binary_classification: score(Left) = output,
#                                         score(Right) = 1 - output, top_k 1
# Output tensor order (SplitTensorVectorCalculator): 0 landmarks [1,63], 1 hand flag [1,1],
# 2 handedness [1,1], 3 world landmarks [1,63]; ONNX names Identity, Identity_1, _2, _3.

# --- Sampling: image_to_tensor_converter_opencv.cc -> cv::warpPerspective(INTER_LINEAR) on
# the uint8 image. OpenCV quantises source coordinates to 1/32 pixel (INTER_BITS = 5) and
# rounds the interpolated value to uint8 (fixed point, round half up); emulating that makes
# the model inputs match MediaPipe's bit for bit (almost always). False = plain float bilinear.
OPENCV_EXACT_SAMPLING = True


# ============================================================================ anchors
def ssd_anchors():
    """(2016, 2) anchor centres (x, y) in [0, 1], in the order of the model's outputs."""
    centres = []
    layer = 0
    while layer < len(ANCHOR_STRIDES):
        # consecutive layers with the same stride share one grid (their anchors interleave)
        last = layer
        while last < len(ANCHOR_STRIDES) and ANCHOR_STRIDES[last] == ANCHOR_STRIDES[layer]:
            last += 1
        per_cell = ANCHORS_PER_LAYER * (last - layer)
        grid = math.ceil(PALM_INPUT_SIZE / ANCHOR_STRIDES[layer])
        for y in range(grid):
            for x in range(grid):
                for _ in range(per_cell):
                    centres.append(((x + ANCHOR_OFFSET) / grid, (y + ANCHOR_OFFSET) / grid))
        layer = last
    a = np.array(centres, dtype=np.float32)
    assert a.shape == (NUM_BOXES, 2)
    return a


# ============================================================================ sampling
def sample_rotated_rect(img, cx, cy, w, h, rotation, out_size, border):
    """Sample the rotated rectangle (centre cx, cy; size w x h; rotation in radians,
    clockwise on screen since y points down) of `img` (H x W x 3 uint8) into an
    out_size x out_size float32 array of values in [0, 255].

    Output pixel (u, v) (column, row) is taken at the source point
        top_left + u * (w / out_size) * e_x + v * (h / out_size) * e_y,
    with e_x = (cos r, sin r), e_y = (-sin r, cos r), top_left = centre - w/2 e_x - h/2 e_y:
    MediaPipe maps the rectangle's corners onto the output's corners (0,0) .. (N,N) and
    OpenCV evaluates the map at integer output coordinates. Bilinear interpolation between
    the four neighbours (pixel centres at integer coordinates); neighbours outside the
    image are 0 (border "zero") or the nearest edge pixel (border "replicate").
    """
    H, W = img.shape[:2]
    c, s = math.cos(rotation), math.sin(rotation)
    sx_u, sy_u = c * w / out_size, s * w / out_size        # source step per output column
    sx_v, sy_v = -s * h / out_size, c * h / out_size       # source step per output row
    x0 = cx - 0.5 * w * c + 0.5 * h * s                    # top-left corner
    y0 = cy - 0.5 * w * s - 0.5 * h * c
    u = np.arange(out_size, dtype=np.float64)[None, :]
    v = np.arange(out_size, dtype=np.float64)[:, None]
    sx = x0 + u * sx_u + v * sx_v
    sy = y0 + u * sy_u + v * sy_v
    if OPENCV_EXACT_SAMPLING:
        sx = np.round(sx * 32.0) / 32.0
        sy = np.round(sy * 32.0) / 32.0
    ix = np.floor(sx).astype(np.int64)
    iy = np.floor(sy).astype(np.int64)
    fx = (sx - ix).astype(np.float32)[..., None]
    fy = (sy - iy).astype(np.float32)[..., None]
    src = img.astype(np.float32)

    def tap(xx, yy):
        if border == "replicate":
            return src[np.clip(yy, 0, H - 1), np.clip(xx, 0, W - 1)]
        inside = ((xx >= 0) & (xx < W) & (yy >= 0) & (yy < H))[..., None]
        return np.where(inside, src[np.clip(yy, 0, H - 1), np.clip(xx, 0, W - 1)], 0.0)

    out = ((1 - fx) * (1 - fy) * tap(ix, iy) + fx * (1 - fy) * tap(ix + 1, iy)
           + (1 - fx) * fy * tap(ix, iy + 1) + fx * fy * tap(ix + 1, iy + 1))
    if OPENCV_EXACT_SAMPLING:
        out = np.floor(out + 0.5)   # weights are exact multiples of 1/1024 here
    return out.astype(np.float32)


def to_tensor(pixels, value_range):
    """H x W x 3 values in [0, 255] -> 1 x 3 x H x W float32 in value_range."""
    lo, hi = value_range
    t = pixels * ((hi - lo) / 255.0) + lo
    return np.ascontiguousarray(t.transpose(2, 0, 1)[None], dtype=np.float32)


# ============================================================================ palm detection
def palm_input(img):
    """Letterboxed 192x192 input and the padding (left, top, right, bottom) as fractions."""
    H, W = img.shape[:2]
    side = float(max(W, H))
    pad_x = (1.0 - W / side) / 2.0      # ImageToTensor PadRoi: equal padding on both sides
    pad_y = (1.0 - H / side) / 2.0
    pixels = sample_rotated_rect(img, W / 2.0, H / 2.0, side, side, 0.0, PALM_INPUT_SIZE, PALM_BORDER)
    return to_tensor(pixels, PALM_INPUT_RANGE), (pad_x, pad_y, pad_x, pad_y)


def decode_palms(raw_boxes, raw_scores, anchors):
    """Model outputs [2016,18] and [2016] -> detections in letterboxed [0,1] coordinates.
    Each detection: dict(score, box=[xmin, ymin, xmax, ymax], keypoints=[7, 2])."""
    scores = 1.0 / (1.0 + np.exp(-np.clip(raw_scores, -SCORE_CLIP, SCORE_CLIP)))
    ax, ay = anchors[:, 0], anchors[:, 1]
    cx = raw_boxes[:, 0] / BOX_SCALE + ax      # anchor w = h = 1 (fixed_anchor_size)
    cy = raw_boxes[:, 1] / BOX_SCALE + ay
    w = raw_boxes[:, 2] / BOX_SCALE
    h = raw_boxes[:, 3] / BOX_SCALE
    kp = raw_boxes[:, 4:4 + 2 * NUM_KEYPOINTS].reshape(-1, NUM_KEYPOINTS, 2) / BOX_SCALE
    kp = kp + anchors[:, None, :]
    dets = []
    for i in np.nonzero(scores >= MIN_SCORE)[0]:
        if w[i] < 0 or h[i] < 0:           # tensors_to_detections: negative sizes dropped
            continue
        dets.append({"score": float(scores[i]),
                     "box": np.array([cx[i] - w[i] / 2, cy[i] - h[i] / 2,
                                      cx[i] + w[i] / 2, cy[i] + h[i] / 2], dtype=np.float64),
                     "keypoints": kp[i].astype(np.float64)})
    return dets


def iou(a, b):
    ix = min(a[2], b[2]) - max(a[0], b[0])
    iy = min(a[3], b[3]) - max(a[1], b[1])
    if ix < 0 or iy < 0:                   # Rectangle_f::Intersects (touching counts)
        return 0.0
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def weighted_nms(dets):
    """non_max_suppression_calculator.cc WeightedNonMaxSuppression: take the best remaining
    detection, merge every remaining one with IoU > NMS_IOU into it (score-weighted mean of
    box corners and keypoints, the best one's score kept), repeat on the rest."""
    remaining = sorted(dets, key=lambda d: -d["score"])
    out = []
    while remaining:
        best = remaining[0]
        cand = [d for d in remaining if iou(d["box"], best["box"]) > NMS_IOU]
        rest = [d for d in remaining if iou(d["box"], best["box"]) <= NMS_IOU]
        wsum = sum(d["score"] for d in cand)
        out.append({"score": best["score"],
                    "box": sum(d["box"] * d["score"] for d in cand) / wsum,
                    "keypoints": sum(d["keypoints"] * d["score"] for d in cand) / wsum})
        if len(rest) == len(remaining):
            break
        remaining = rest
    return out


def remove_letterbox(det, padding):
    """detection_letterbox_removal_calculator.cc: letterboxed [0,1] -> image [0,1]."""
    left, top, right, bottom = padding
    sx, sy = 1.0 - left - right, 1.0 - top - bottom
    box = det["box"]
    kp = det["keypoints"]
    return {"score": det["score"],
            "box": np.array([(box[0] - left) / sx, (box[1] - top) / sy,
                             (box[2] - left) / sx, (box[3] - top) / sy]),
            "keypoints": np.stack([(kp[:, 0] - left) / sx, (kp[:, 1] - top) / sy], axis=1)}


def normalize_radians(a):
    return a - 2 * math.pi * math.floor((a + math.pi) / (2 * math.pi))


def palm_to_roi(det, W, H):
    """PalmDetectionDetectionToRoi -> rotated square ROI (cx, cy, side, rotation) in pixels."""
    # DetectionsToRectsCalculator: rect = the box; rotation from keypoint 0 to keypoint 2
    xmin, ymin, xmax, ymax = det["box"]
    cx, cy = (xmin + xmax) / 2 * W, (ymin + ymax) / 2 * H
    bw, bh = (xmax - xmin) * W, (ymax - ymin) * H
    x0, y0 = det["keypoints"][ROT_KEYPOINT_START] * (W, H)
    x1, y1 = det["keypoints"][ROT_KEYPOINT_END] * (W, H)
    rotation = normalize_radians(ROT_TARGET_ANGLE - math.atan2(-(y1 - y0), x1 - x0))
    # RectTransformationCalculator (pixel form of TransformNormalizedRect)
    c, s = math.cos(rotation), math.sin(rotation)
    cx += bw * ROI_SHIFT_X * c - bh * ROI_SHIFT_Y * s
    cy += bw * ROI_SHIFT_X * s + bh * ROI_SHIFT_Y * c
    side = max(bw, bh) * ROI_SCALE
    return cx, cy, side, rotation


# ============================================================================ landmarks
def project_landmarks(raw, roi):
    """[21,3] landmark-model output (crop pixels 0..224) -> image pixels (x, y, z).
    TensorsToLandmarks (/224, z /224/0.4) -> LandmarkProjection (rotate about the crop centre,
    scale by the ROI side, add the ROI centre; z scaled by the ROI width). z ends up in
    pixels of the image (MediaPipe's normalised z times image width)."""
    cx, cy, side, rotation = roi
    n = raw / LANDMARK_INPUT_SIZE
    x, y = n[:, 0] - 0.5, n[:, 1] - 0.5
    c, s = math.cos(rotation), math.sin(rotation)
    px = (c * x - s * y) * side + cx
    py = (s * x + c * y) * side + cy
    pz = n[:, 2] / NORMALIZE_Z * side
    return np.stack([px, py, pz], axis=1)


def project_world_landmarks(raw, roi):
    """[21,3] world landmarks (metres, hand-centred) -> rotated by the ROI rotation about z
    (WorldLandmarkProjectionCalculator); z unchanged."""
    rotation = roi[3]
    c, s = math.cos(rotation), math.sin(rotation)
    return np.stack([c * raw[:, 0] - s * raw[:, 1], s * raw[:, 0] + c * raw[:, 1], raw[:, 2]], axis=1)


# ============================================================================ pipeline
class HandPipeline:
    def __init__(self, variant="full", model_dir=MODEL_DIR, threads=1):
        import onnxruntime as ort
        so = ort.SessionOptions()
        so.intra_op_num_threads = threads
        so.inter_op_num_threads = 1
        so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        mk = lambda name: ort.InferenceSession(os.path.join(model_dir, f"{name}_{variant}.onnx"), so,
                                               providers=["CPUExecutionProvider"])
        self.palm = mk("palm_detection")
        self.landmark = mk("hand_landmark")
        self.anchors = ssd_anchors()
        self.timing = {"palm_model": 0.0, "landmark_model": 0.0}

    def detect_palms(self, img):
        H, W = img.shape[:2]
        x, padding = palm_input(img)
        t = time.perf_counter()
        boxes, scores = self.palm.run(["Identity", "Identity_1"], {"input_1": x})
        self.timing["palm_model"] += time.perf_counter() - t
        dets = weighted_nms(decode_palms(boxes[0], scores[0, :, 0], self.anchors))
        return [remove_letterbox(d, padding) for d in dets[:MAX_HANDS]]

    def landmarks(self, img, roi):
        cx, cy, side, rotation = roi
        pixels = sample_rotated_rect(img, cx, cy, side, side, rotation, LANDMARK_INPUT_SIZE, LANDMARK_BORDER)
        t = time.perf_counter()
        lm, flag, hand, world = self.landmark.run(
            ["Identity", "Identity_1", "Identity_2", "Identity_3"],
            {"input_1": to_tensor(pixels, LANDMARK_INPUT_RANGE)})
        self.timing["landmark_model"] += time.perf_counter() - t
        presence = float(flag.reshape(-1)[0])
        p_left = float(hand.reshape(-1)[0])
        label, score = (HANDEDNESS_LABELS[0], p_left) if p_left >= 1 - p_left else (HANDEDNESS_LABELS[1], 1 - p_left)
        return {"presence": presence,
                "found": presence > PRESENCE_THRESHOLD,
                "landmarks": project_landmarks(lm.reshape(NUM_LANDMARKS, 3), roi),
                "world_landmarks_m": project_world_landmarks(world.reshape(NUM_LANDMARKS, 3), roi),
                "handedness": {"label": label, "score": score}}

    def __call__(self, img):
        """img: H x W x 3 RGB uint8. Returns a dict (found, landmarks [21,3] pixels, ...)."""
        H, W = img.shape[:2]
        palms = self.detect_palms(img)
        result = {"found": False, "palm_detections": palms, "rois": []}
        for det in palms:
            roi = palm_to_roi(det, W, H)
            result["rois"].append(roi)
            lm = self.landmarks(img, roi)
            result["presence"] = lm["presence"]
            if lm["found"]:
                result.update(lm)
                break
        return result


# ============================================================================ CLI
def load_rgb(path):
    import cv2  # only to decode the JPEG; the pipeline itself is numpy
    bgr = cv2.imread(path, cv2.IMREAD_COLOR)
    return np.ascontiguousarray(bgr[:, :, ::-1])


def compare(variant):
    ref_name = "reference.json" if variant == "full" else "reference_lite.json"
    ref = json.load(open(os.path.join(DATA_DIR, ref_name)))
    assert ref["settings"]["model_complexity"] == (1 if variant == "full" else 0)
    pipe = HandPipeline(variant)
    all_err = []
    agree = 0
    print(f"variant {variant} vs {ref_name}; error = distance / max(width, height)")
    for name, r in ref["photos"].items():
        img = load_rgb(os.path.join(DATA_DIR, name))
        H, W = img.shape[:2]
        side = max(W, H)
        out = pipe(img)
        agree += out["found"] == r["found"]
        line = f"{name:26s} found {out['found']!s:5s} (ref {r['found']!s:5s})"
        if out["palm_detections"] and r["palm_detections"]:
            d, rd = out["palm_detections"][0], r["palm_detections"][0]
            kp_err = np.abs(d["keypoints"] * (W, H) - np.array(rd["keypoints"])).max() / side
            line += f"  palm score {d['score']:.4f} (ref {rd['score']:.4f}) kp err {kp_err:.2e}"
            rr = r["hand_rects_from_palm"][0]
            roi_err = np.abs(np.array(out["rois"][0][:3]) - (rr["x_center"], rr["y_center"], rr["width"])).max()
            line += f" roi err {roi_err:.1e} px {abs(out['rois'][0][3] - rr['rotation']):.0e} rad"
        if out["found"] and r["found"]:
            e = np.linalg.norm(out["landmarks"][:, :2] - np.array(r["landmarks"])[:, :2], axis=1) / side
            ez = np.abs(out["landmarks"][:, 2] - np.array(r["landmarks"])[:, 2]).max() / side
            ew = np.abs(out["world_landmarks_m"] - np.array(r["world_landmarks_m"])).max()
            all_err.append(e)
            line += (f"  landmarks max {e.max() * 100:.3f}% mean {e.mean() * 100:.3f}% (z max {ez * 100:.3f}%,"
                     f" world max {ew * 1000:.3f} mm)"
                     f"  {out['handedness']['label']} {out['handedness']['score']:.3f}"
                     f" (ref {r['handedness']['label']} {r['handedness']['score']:.3f})")
        elif "presence" in out:
            line += f"  presence {out['presence']:.3f}"
        print(line)
    if all_err:
        e = np.concatenate(all_err)
        print(f"ALL: found agrees on {agree}/{len(ref['photos'])}; landmark error "
              f"max {e.max() * 100:.3f}% mean {e.mean() * 100:.3f}% of the image side "
              f"({len(all_err)} photos x 21)")
    return all_err


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("photos", nargs="*")
    ap.add_argument("--variant", choices=["full", "lite"], default="full")
    ap.add_argument("--compare", action="store_true", help="compare with tests/data/hands/reference.json (reference_lite.json for lite)")
    ap.add_argument("--float-sampling", action="store_true", help="plain float bilinear (no OpenCV emulation)")
    args = ap.parse_args()
    global OPENCV_EXACT_SAMPLING
    if args.float_sampling:
        OPENCV_EXACT_SAMPLING = False
    if args.compare or not args.photos:
        compare(args.variant)
    if args.photos:
        pipe = HandPipeline(args.variant)
        for p in args.photos:
            out = pipe(load_rgb(p))
            print(json.dumps({"photo": p, "found": out["found"],
                              "landmarks": out["landmarks"].astype(np.float64).round(2).tolist() if out["found"] else None,
                              "handedness": out.get("handedness")}))


if __name__ == "__main__":
    main()
