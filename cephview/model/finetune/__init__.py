"""Human-in-the-loop fine-tuning: learn from a project's reviews, keep the new model only if better.

``run.finetune_project`` takes the reviewed landmarks of a project (see
:mod:`cephview.model.project_data`), holds part of the reviewed images out (:mod:`.holdout`),
fine-tunes the active model on the rest, optionally mixed with base training data made to look
like the project's (:mod:`.base_data`, a fresh draw of it each epoch) and with the refinement
patch re-scaled to the device (:mod:`.scale`), measures old and new on the held-out images and
promotes the new one only when it is better or forced (:mod:`.promotion`). Settings, progress
and results are plain data (:mod:`.settings`); :mod:`.jobs` runs a fine-tune or a re-prediction
as a picklable job, in whatever process the caller chooses.

No Qt here: the GUI runs these in a worker process with ``progress`` and ``should_stop``.
"""
