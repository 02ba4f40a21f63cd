"""DICOM output, SR reading and the PACS connection: Qt-free, torch-free.

- :mod:`~cephview.interop.dicom_coords`: the one conversion between cephview pixel positions and
  DICOM image coordinates;
- :mod:`~cephview.interop.codes`: the private coding scheme for landmarks and measurements;
- :mod:`~cephview.interop.export`: ``export_dicom`` writes a TID 1500 Structured Report, a Grayscale
  Softcopy Presentation State and, for a PNG/JPEG/... source, a Secondary Capture image first;
- :mod:`~cephview.interop.read_sr`: reads an SR written by cephview back into an annotation record;
- :mod:`~cephview.interop.pacs`: C-ECHO, C-FIND, C-GET/C-MOVE and C-STORE with pynetdicom.

Only :mod:`cephview.core` and :mod:`cephview.analysis` are imported from the project.
"""
