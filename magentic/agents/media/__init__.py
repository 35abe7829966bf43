"""Media the FileSurfer reads beyond markitdown: OCR of images and scanned PDF pages, audio and
video (ffmpeg), spreadsheet formatting and tar archives.

The modules here that read files run inside the conversion worker process (`file_worker`),
which has a memory limit and is killed at its deadline; the external tools they start
(tesseract, ffmpeg, ffprobe) get their own time limit and die with the worker. `transcript`
is the one part that runs in the agent's process, because it talks to the model endpoint.
"""
